#include "proxy/ledger/ledger_writer.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "proxy/logging/logger.hpp"
#include "tests/proxy/test_files.hpp"

namespace spendgate::proxy {
namespace {

class LedgerWriterTest : public ::testing::Test {
protected:
  void SetUp() override {
    path_ = test_support::perTestTempPath("ledger_test", ".jsonl");
    std::filesystem::remove(path_);
  }
  void TearDown() override { std::filesystem::remove(path_); }

  std::string contents() const { return test_support::readWholeFile(path_); }

  static Logger& logger() { return test_support::quietLogger(); }

  std::filesystem::path path_;
};

TEST_F(LedgerWriterTest, AppendsWholeLinesInOrder) {
  {
    LedgerWriter writer(path_.string(), logger());
    writer.append("{\"n\":1}\n");
    writer.append("{\"n\":2}\n");
    writer.flush();
    EXPECT_EQ(contents(), "{\"n\":1}\n{\"n\":2}\n");
    writer.append("{\"n\":3}\n");
  }  // the destructor writes what is still queued
  EXPECT_EQ(contents(), "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
}

// A lone request's line must not wait for the next batch: a caller that reads the ledger right
// after its answer finds it. With an hour-long batch wait only the idle wake-up can write it.
TEST_F(LedgerWriterTest, AnIdleWriterWritesTheFirstLineAtOnce) {
  LedgerWriter writer(path_.string(), logger(), std::chrono::hours(1));
  writer.append("{\"n\":1}\n");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (contents().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(contents(), "{\"n\":1}\n");
  writer.append("{\"n\":2}\n");  // busy now: batched (written by the destructor here)
}

TEST_F(LedgerWriterTest, CutsATornLastLineLeftByACrash) {
  {
    std::ofstream out(path_);
    out << "{\"n\":1}\n{\"n\":2,\"cost_u";
  }
  LedgerWriter writer(path_.string(), logger());
  writer.append("{\"n\":3}\n");
  writer.flush();
  EXPECT_EQ(contents(), "{\"n\":1}\n{\"n\":3}\n");
}

TEST_F(LedgerWriterTest, KeepsExistingRecordsAcrossRestarts) {
  {
    LedgerWriter writer(path_.string(), logger());
    writer.append("{\"n\":1}\n");
  }
  {
    LedgerWriter writer(path_.string(), logger());
    writer.append("{\"n\":2}\n");
  }
  EXPECT_EQ(contents(), "{\"n\":1}\n{\"n\":2}\n");
}

TEST_F(LedgerWriterTest, ManyThreadsNeverInterleaveLines) {
  {
    LedgerWriter writer(path_.string(), logger());
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&writer, t] {
        for (int i = 0; i < 2000; ++i) {
          writer.append("{\"t\":" + std::to_string(t) + ",\"i\":" + std::to_string(i) + "}\n");
        }
      });
    }
    for (auto& thread : threads) thread.join();
  }
  std::ifstream in(path_);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ASSERT_TRUE(line.starts_with("{\"t\":") && line.ends_with("}")) << line;
    ++lines;
  }
  EXPECT_EQ(lines, 8000);
}

TEST_F(LedgerWriterTest, UnwritablePathIsAClearError) {
  EXPECT_THROW(LedgerWriter("/nonexistent-dir/ledger.jsonl", logger()), std::runtime_error);
}

}  // namespace
}  // namespace spendgate::proxy

#include "proxy/store/emergency_stop_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/enforcement/period.hpp"
#include "core/store/memory_counter_store.hpp"
#include "proxy/logging/logger.hpp"
#include "tests/proxy/test_files.hpp"

namespace spendgate::proxy {
namespace {

using std::chrono::milliseconds;

core::EmergencyStopState manualOn() {
  core::EmergencyStopState state;
  state.active = true;
  state.reason = "incident \"42\" \xc3\xa9";
  state.since = core::fromUnixMillis(1'795'000'000'123);
  state.until = core::fromUnixMillis(1'795'003'600'123);
  state.source = core::EmergencyStopSource::Manual;
  return state;
}

core::EmergencyStopState autoOffSuppressed() {
  core::EmergencyStopState state;
  state.active = false;
  state.since = core::fromUnixMillis(1'795'000'000'000);
  state.source = core::EmergencyStopSource::Auto;
  state.auto_suppressed_until = core::fromUnixMillis(1'795'046'400'000);
  return state;
}

TEST(EmergencyStopFileFormat, PathSitsNextToTheLedger) {
  EXPECT_EQ(emergencyStopFilePath("spendgate-ledger.jsonl"), "spendgate-ledger.jsonl.estop.json");
  EXPECT_EQ(emergencyStopFilePath("/var/lib/spendgate/ledger.jsonl"),
            "/var/lib/spendgate/ledger.jsonl.estop.json");
}

TEST(EmergencyStopFileFormat, WritesEveryFieldOnOneLine) {
  EXPECT_EQ(formatEmergencyStopFile(manualOn()),
            "{\"version\":1,\"active\":true,\"reason\":\"incident \\\"42\\\" \xc3\xa9\","
            "\"since_ms\":1795000000123,\"until_ms\":1795003600123,\"source\":\"manual\","
            "\"suppressed_until_ms\":null}\n");
  EXPECT_EQ(formatEmergencyStopFile(autoOffSuppressed()),
            "{\"version\":1,\"active\":false,\"reason\":\"\",\"since_ms\":1795000000000,"
            "\"until_ms\":null,\"source\":\"auto\",\"suppressed_until_ms\":1795046400000}\n");
}

TEST(EmergencyStopFileFormat, RoundTrips) {
  for (const auto& state : {manualOn(), autoOffSuppressed(), core::EmergencyStopState{}}) {
    const auto parsed = parseEmergencyStopFile(formatEmergencyStopFile(state));
    ASSERT_TRUE(parsed.state) << parsed.error;
    EXPECT_EQ(*parsed.state, state);
  }
}

TEST(EmergencyStopFileFormat, RefusesWhatItDidNotWrite) {
  const auto error = [](std::string_view text) {
    const auto parsed = parseEmergencyStopFile(text);
    EXPECT_FALSE(parsed.state) << text;
    return parsed.error;
  };
  EXPECT_NE(error(""), "");
  EXPECT_NE(error("{\"version\":1,\"active\":tr"), "");
  EXPECT_EQ(error("[]"), "not a JSON object");
  const std::string good = formatEmergencyStopFile(manualOn());
  auto with = [&](const std::string& from, const std::string& to) {
    auto text = good;
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
  };
  EXPECT_EQ(error(with("\"version\":1", "\"version\":2")), "\"version\" must be 1");
  EXPECT_EQ(error(with("\"active\":true", "\"active\":\"yes\"")),
            "\"active\" must be true or false");
  EXPECT_EQ(error(with("\"source\":\"manual\"", "\"source\":\"robot\"")),
            "\"source\" must be \"manual\" or \"auto\"");
  EXPECT_EQ(error(with("\"since_ms\":1795000000123", "\"since_ms\":null")),
            "\"since_ms\" must be unix milliseconds");
  EXPECT_EQ(error(with("\"until_ms\":1795003600123,", "")), "missing \"until_ms\"");
  EXPECT_EQ(error(with("\"until_ms\":1795003600123", "\"until_ms\":\"soon\"")),
            "\"until_ms\" must be unix milliseconds or null");
}

class EmergencyStopFileTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = test_support::perTestTempPath("estop_file_test");
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "ledger.jsonl.estop.json").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string contents() const { return test_support::readWholeFile(path_); }

  static Logger& logger() { return test_support::quietLogger(); }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(EmergencyStopFileTest, NoFileIsNoStopAndNoError) {
  const auto loaded = loadEmergencyStopFile(path_);
  EXPECT_FALSE(loaded.state);
  EXPECT_EQ(loaded.error, "");
}

TEST_F(EmergencyStopFileTest, WritesAtomicallyAndLoadsBack) {
  ASSERT_EQ(writeEmergencyStopFile(path_, manualOn()), "");
  EXPECT_EQ(contents(), formatEmergencyStopFile(manualOn()));
  EXPECT_FALSE(std::filesystem::exists(path_ + ".tmp"));
  ASSERT_EQ(writeEmergencyStopFile(path_, autoOffSuppressed()), "");
  const auto loaded = loadEmergencyStopFile(path_);
  ASSERT_TRUE(loaded.state) << loaded.error;
  EXPECT_EQ(*loaded.state, autoOffSuppressed());
}

TEST_F(EmergencyStopFileTest, CorruptFileIsAnErrorNamingTheFile) {
  std::ofstream(path_) << "{\"version\":1,\"active\":tr";  // cut short
  const auto loaded = loadEmergencyStopFile(path_);
  EXPECT_FALSE(loaded.state);
  EXPECT_EQ(loaded.error.rfind(path_ + ": not an emergency stop state: not JSON", 0), 0u)
      << loaded.error;
}

TEST_F(EmergencyStopFileTest, AFailedWriteIsReportedAndRetriedAtTheNextChange) {
  const std::string missing = (dir_ / "gone" / "ledger.jsonl.estop.json").string();
  const auto error = writeEmergencyStopFile(missing, manualOn());
  EXPECT_EQ(error.rfind(missing + ".tmp: ", 0), 0u) << error;

  core::MemoryCounterStore store(milliseconds(0));
  auto file = std::make_shared<EmergencyStopFile>(missing, store, logger(), std::nullopt);
  store.setEmergencyStopListener([file] { file->save(); });
  store.setEmergencyStop(manualOn(), [](auto) {});  // logged; the stop applies in memory
  EXPECT_FALSE(std::filesystem::exists(missing));
  std::filesystem::create_directories(dir_ / "gone");
  const auto expired = core::expireEmergencyStop(manualOn(), *manualOn().until);
  store.setEmergencyStop(expired, [](auto) {});
  const auto loaded = loadEmergencyStopFile(missing);
  ASSERT_TRUE(loaded.state) << loaded.error;
  EXPECT_EQ(*loaded.state, expired);
}

TEST_F(EmergencyStopFileTest, FollowsTheStoreAndWritesOnlyChanges) {
  core::MemoryCounterStore store(milliseconds(0));
  auto file = std::make_shared<EmergencyStopFile>(path_, store, logger(), std::nullopt);
  store.setEmergencyStopListener([file] { file->save(); });
  store.setEmergencyStop(manualOn(), [](auto) {});
  EXPECT_EQ(contents(), formatEmergencyStopFile(manualOn()));

  // Expiry through replaceEmergencyStop is a change too.
  const auto expired = core::expireEmergencyStop(manualOn(), *manualOn().until);
  store.replaceEmergencyStop(manualOn(), expired, [](auto) {});
  EXPECT_EQ(contents(), formatEmergencyStopFile(expired));

  // Setting the same state again writes nothing (the file is not touched).
  std::filesystem::remove(path_);
  store.setEmergencyStop(expired, [](auto) {});
  EXPECT_FALSE(std::filesystem::exists(path_));
}

}  // namespace
}  // namespace spendgate::proxy

// Replays the committed corpus of every fuzz harness (tests/fuzz/corpus/<name>/, seeds plus the
// inputs that once found a bug) through the harness code itself, built with the normal compiler
// and without libFuzzer: a cheap regression test that also re-checks each harness's invariants
// (FUZZ_CHECK throws here instead of aborting). One test per harness: FuzzCorpus.<name>.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_support.hpp"

namespace {

namespace fs = std::filesystem;

class ReplayCorpus : public ::testing::Test {
public:
  explicit ReplayCorpus(spendgate::fuzz::Target target) : target_(target) {}

  void TestBody() override {
    const fs::path dir =
        fs::path(SPENDGATE_SOURCE_DIR) / "tests" / "fuzz" / "corpus" / target_.name;
    ASSERT_TRUE(fs::is_directory(dir)) << "no corpus at " << dir;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    ASSERT_FALSE(files.empty()) << "empty corpus at " << dir;
    for (const fs::path& file : files) {
      std::ifstream in(file, std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
      try {
        target_.fn(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      } catch (const std::exception& e) {
        ADD_FAILURE() << file.filename().string() << ": " << e.what();
      }
    }
  }

private:
  spendgate::fuzz::Target target_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (const spendgate::fuzz::Target& target : spendgate::fuzz::targets()) {
    ::testing::RegisterTest("FuzzCorpus", target.name, nullptr, nullptr, __FILE__, __LINE__,
                            [target]() -> ::testing::Test* { return new ReplayCorpus(target); });
  }
  return RUN_ALL_TESTS();
}

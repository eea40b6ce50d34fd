// Replays a libFuzzer seed corpus without libFuzzer: each argument is a file or a directory
// of files, each file is fed once to LLVMFuzzerTestOneInput. ctest runs this (label fuzz) so
// the seeds and every crash reproducer checked in stay green under the sanitizers.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

static int Feed(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  return 1;
}

int main(int argc, char** argv) {
  int fed = 0;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path p(argv[i]);
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(p)) {
        if (e.is_regular_file()) fed += Feed(e.path());
      }
    } else {
      fed += Feed(p);
    }
  }
  std::printf("replayed %d inputs\n", fed);
  return fed > 0 ? 0 : 1;  // an empty corpus is a broken test, not a pass
}

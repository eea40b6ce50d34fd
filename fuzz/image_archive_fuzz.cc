// Feeds arbitrary bytes to the image store's archive import (docker save, OCI layout) and
// to the layer unpacker. Whatever the input, nothing may be written outside the scratch
// directory, and a failed import must leave the store empty.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "agent/image/image_store.h"
#include "agent/image/layer.h"
#include "agent/internal/sys.h"

namespace fs = std::filesystem;
using namespace berth::agent::image;

namespace {
std::string& ScratchDir() {
  static std::string dir;
  return dir;
}
void RemoveScratch() {
  std::error_code ec;
  fs::remove_all(ScratchDir(), ec);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (ScratchDir().empty()) {
    ScratchDir() =
        (fs::temp_directory_path() / ("berth-image-fuzz-" + berth::agent::internal::RandomHex(8)))
            .string();
    fs::create_directories(ScratchDir());
    std::atexit(RemoveScratch);
  }
  const std::string& dir = ScratchDir();
  std::string input = dir + "/input.tar";
  {
    std::ofstream out(input, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  StoreLimits limits;
  limits.max_archive_bytes = 64 << 20;
  limits.layer.max_bytes = 64 << 20;
  auto store = ImageStore::Open(dir + "/store", limits);
  if (!store) std::abort();
  auto r = (*store)->Import(input);
  if (!r) {
    if (!(*store)->List().empty()) std::abort();  // a failed import left an image
  } else {
    for (const auto& im : *r) (void)(*store)->Remove(im.id);
  }
  std::string out = dir + "/layer";
  fs::create_directories(out);
  (void)UnpackLayer(input, out, limits.layer);
  std::error_code ec;
  fs::remove_all(out, ec);
  fs::remove_all(dir + "/store", ec);
  return 0;
}

// The web console's files as berthd embeds them: built from ui/ at build time (ui/build.mjs
// bundles the TypeScript with esbuild, gzips every file and writes the generated
// ui_assets.cc that defines UiAssets()). A berthd configured with -DBERTH_UI=OFF links
// ui/ui_assets_none.cc instead, whose list is empty. ui_endpoints.h serves them.
// Thread-safety: immutable data.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace berth::api {

struct UiAsset {
  std::string_view path;                // URL path: "/ui/assets/main-3F2AB9C1.js", "/ui/index.html"
  std::string_view content_type;        // "text/javascript; charset=utf-8"
  std::span<const unsigned char> gzip;  // the file, gzip-compressed at build time
  size_t size = 0;                      // its size before compression
  std::string_view etag;                // quoted strong validator: "\"<sha-256 prefix>\""
  bool immutable = false;               // content-hashed name: cacheable for a year
};

// Every file of the console; empty when berthd was built without it.
std::span<const UiAsset> UiAssets();

}  // namespace berth::api

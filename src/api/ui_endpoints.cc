#include "api/ui_endpoints.h"

#include <fmt/core.h>
#include <zlib.h>

#include <map>
#include <optional>

#include "core/log.h"
#include "security/tokens.h"

namespace berth::api {
namespace {

// index.html holds this where each response puts its own nonce (ui/index.html).
constexpr std::string_view kNoncePlaceholder = "__BERTH_CSP_NONCE__";
constexpr std::string_view kIndexPath = "/ui/index.html";

std::optional<std::string> Gunzip(std::span<const unsigned char> in, size_t size_hint) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return std::nullopt;
  std::string out;
  out.resize(size_hint > 0 ? size_hint : in.size() * 4);
  z.next_in = const_cast<unsigned char*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    if (z.total_out >= out.size()) out.resize(out.size() * 2 + 1024);
    z.next_out = reinterpret_cast<unsigned char*>(out.data() + z.total_out);
    z.avail_out = static_cast<uInt>(out.size() - z.total_out);
    rc = inflate(&z, Z_NO_FLUSH);
  }
  out.resize(z.total_out);
  inflateEnd(&z);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

// True when Accept-Encoding lists gzip (or *) without q=0.
bool AcceptsGzip(const http::Request& request) {
  auto header = request.headers.Get("Accept-Encoding");
  if (!header) return false;
  for (std::string_view item : http::SplitHeaderList(*header)) {
    size_t semi = item.find(';');
    std::string_view coding = item.substr(0, semi);
    while (!coding.empty() && coding.back() == ' ') coding.remove_suffix(1);
    if (!http::EqualsIgnoreCase(coding, "gzip") && coding != "*") continue;
    if (semi == std::string_view::npos) return true;
    std::string_view param = item.substr(semi + 1);
    while (!param.empty() && param.front() == ' ') param.remove_prefix(1);
    if (!param.starts_with("q=") && !param.starts_with("Q=")) return true;
    std::string_view q = param.substr(2);
    return q.empty() || q.find_first_not_of("0.") != std::string_view::npos;
  }
  return false;
}

bool EtagMatches(const http::Request& request, std::string_view etag) {
  auto header = request.headers.Get("If-None-Match");
  if (!header) return false;
  for (std::string_view item : http::SplitHeaderList(*header)) {
    if (item.starts_with("W/")) item.remove_prefix(2);
    if (item == "*" || item == etag) return true;
  }
  return false;
}

void SetCommonHeaders(http::Response& r, std::string_view nonce) {
  r.headers.Set("Content-Security-Policy", UiContentSecurityPolicy(nonce));
  r.headers.Set("X-Content-Type-Options", "nosniff");
  r.headers.Set("Referrer-Policy", "no-referrer");
  r.headers.Set("X-Frame-Options", "DENY");
  r.headers.Set("Cross-Origin-Opener-Policy", "same-origin");
}

http::Response Redirect(int status, std::string location) {
  http::Response r;
  r.status = status;
  r.headers.Set("Location", std::move(location));
  r.headers.Set("Content-Type", "text/plain; charset=utf-8");
  r.body = "see /ui/\n";
  return r;
}

struct Console {
  std::map<std::string, const UiAsset*, std::less<>> files;
  std::string index_html;  // decompressed, with the nonce placeholder
};

http::Response ServeFile(const Console& console, const UiAsset& asset,
                         const http::Request& request) {
  http::Response r;
  SetCommonHeaders(r, "");
  r.headers.Set("ETag", std::string(asset.etag));
  r.headers.Set("Cache-Control",
                asset.immutable ? "public, max-age=31536000, immutable" : "no-cache");
  r.headers.Set("Vary", "Accept-Encoding");
  if (EtagMatches(request, asset.etag)) {
    r.status = 304;
    return r;
  }
  r.headers.Set("Content-Type", std::string(asset.content_type));
  if (AcceptsGzip(request)) {
    r.headers.Set("Content-Encoding", "gzip");
    r.body.assign(reinterpret_cast<const char*>(asset.gzip.data()), asset.gzip.size());
    return r;
  }
  auto plain = Gunzip(asset.gzip, asset.size);
  if (!plain) return ErrorResponse(Error(ErrorCode::kInternal, "corrupt embedded file"));
  r.body = std::move(*plain);
  return r;
}

http::Response ServeIndex(const Console& console) {
  std::string nonce = security::RandomHex(16);
  http::Response r;
  SetCommonHeaders(r, nonce);
  r.headers.Set("Content-Type", "text/html; charset=utf-8");
  r.headers.Set("Cache-Control", "no-cache, no-store");
  r.body = console.index_html;
  for (size_t at = r.body.find(kNoncePlaceholder); at != std::string::npos;
       at = r.body.find(kNoncePlaceholder, at + nonce.size())) {
    r.body.replace(at, kNoncePlaceholder.size(), nonce);
  }
  return r;
}

}  // namespace

std::string UiContentSecurityPolicy(std::string_view nonce) {
  // Styles: the bundle's stylesheet, and <style> elements the page stamps with the nonce
  // (the terminal's renderer makes some). Style attributes set from script (CSSOM) are not
  // governed by style-src-attr when set through element.style.
  std::string style =
      nonce.empty() ? "style-src 'self'" : fmt::format("style-src 'self' 'nonce-{}'", nonce);
  return "default-src 'none'; script-src 'self'; " + style +
         "; img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; "
         "manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
}

void RegisterUiEndpoints(Router& router, std::span<const UiAsset> assets) {
  auto console = std::make_shared<Console>();
  for (const auto& a : assets) {
    console->files.emplace(std::string(a.path), &a);
    if (a.path == kIndexPath) {
      auto html = Gunzip(a.gzip, a.size);
      if (html) {
        console->index_html = std::move(*html);
      } else {
        log::Error("api", "the embedded console's index.html does not decompress");
      }
    }
  }
  router.Add(
      {.method = "GET",
       .pattern = "/",
       .access = Access::kPublic,
       .runs_inline = true,
       .handler = [](std::shared_ptr<Call> call) { call->ReplyResponse(Redirect(302, "/ui/")); }});
  auto serve = [console](std::shared_ptr<Call> call) {
    const http::Request& request = call->request();
    // "/ui" and "/ui/" match the same pattern: the bare one is sent to the console's root.
    if (request.path == "/ui") return call->ReplyResponse(Redirect(301, "/ui/"));
    if (console->index_html.empty()) {
      return call->ReplyError(Error(ErrorCode::kNotFound,
                                    "this berthd was built without the web console "
                                    "(-DBERTH_UI=OFF); rebuild with Node.js and npm installed"));
    }
    auto it = console->files.find(request.path);
    if (it != console->files.end() && request.path != kIndexPath) {
      return call->ReplyResponse(ServeFile(*console, *it->second, request));
    }
    // A file the console does not have is a 404, not the page: a stale script name must not
    // be answered with HTML.
    if (request.path.starts_with("/ui/assets/")) {
      return call->ReplyError(
          Error(ErrorCode::kNotFound, fmt::format("no console file {}", request.path)));
    }
    call->ReplyResponse(ServeIndex(*console));
  };
  router.Add({.method = "GET",
              .pattern = "/ui",
              .access = Access::kPublic,
              .runs_inline = true,
              .handler = serve});
  router.Add({.method = "GET",
              .pattern = "/ui/{path...}",
              .access = Access::kPublic,
              .runs_inline = true,
              .handler = serve});
}

}  // namespace berth::api

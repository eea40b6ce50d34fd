// Serves the web console (ui/) from the API address: GET /ui/... (public, like any static
// page: every API call the console then makes carries the caller's token), and GET / which
// redirects there.
//
//   /ui/assets/<name>-<hash>.<ext>  an embedded file; Cache-Control immutable for a year
//   /ui/<anything else>             index.html (the console routes on the client), no-cache,
//                                   with a fresh CSP nonce for the <style> elements the page
//                                   creates (scripts only from 'self': no inline script)
//
// Files are embedded gzip-compressed; a client that does not accept gzip gets them
// decompressed. Strong ETags answer If-None-Match with 304. Every answer carries a strict
// Content-Security-Policy, nosniff, no-referrer and frame-ancestors 'none'.
// Thread-safety: handlers run concurrently; the state they share is immutable.
#pragma once

#include <span>
#include <string>

#include "api/router.h"
#include "api/ui_assets.h"

namespace berth::api {

// The policy every console page carries; `nonce` goes in style-src.
std::string UiContentSecurityPolicy(std::string_view nonce);

// Adds GET / and GET /ui/{path...}. With no assets (built with -DBERTH_UI=OFF) /ui/ answers
// 404 saying so.
void RegisterUiEndpoints(Router& router, std::span<const UiAsset> assets);

}  // namespace berth::api

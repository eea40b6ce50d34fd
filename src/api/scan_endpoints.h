// The image scanner's REST endpoints (/v1/security/db, scan, sbom, findings, ignores); see
// scan_endpoints.cc for the list and docs/api.md for the bodies. `scanner` is null on a control
// plane without an image store: its endpoints then answer 503, findings and ignores still work
// from the store.
#pragma once

#include "api/router.h"
#include "core/clock.h"
#include "security/scan/service.h"
#include "store/store.h"

namespace berth::api {

void RegisterScanEndpoints(Router& router, security::scan::ScanService* scanner,
                           store::Store& store, Clock& clock);

}  // namespace berth::api

// The image scanner's endpoints (src/security/scan/):
//   GET    /v1/security/db                     advisory database status (any token)
//   POST   /v1/security/db/import {"path"}     import OSV / Debian tracker data on the node (admin)
//   GET    /v1/security/scan/{ref...}          ?format=json|table|sarif|cyclonedx &rescan
//   GET    /v1/security/sbom/{ref...}          ?format=cyclonedx|spdx
//   GET    /v1/security/findings               ?severity=high &namespace=shop: running instances
//                                              whose image has findings (readable namespaces)
//   GET    /v1/security/ignores                the ignore list (VEX statements)
//   POST   /v1/security/ignores                {"advisory","package"?,"image"?,"namespace"?,
//                                               "status","justification"?,"reason","expires"}
//   DELETE /v1/security/ignores/{id}
// Reports (scan, findings) leave out what an ignore covers and list it under "ignored".
#include "api/scan_endpoints.h"

#include <fmt/core.h>
#include <openssl/rand.h>

#include <map>

#include "orchestrator/codec.h"
#include "security/scan/ignores.h"

namespace berth::api {
namespace {

using security::Role;
namespace scan = security::scan;

Error NoScanner() {
  return Error(ErrorCode::kUnavailable,
               "this control plane has no image store, so no scanner (run berthd dev as root, or "
               "ask the node that has the image)");
}

std::string ImageParam(const Call& call) {
  std::string ref = call.Param("ref");
  if (ref.starts_with('/')) ref.erase(0, 1);
  return ref;
}

void ReplyReport(const std::shared_ptr<Call>& call, scan::ScanReport&& report,
                 const std::vector<scan::Ignore>& ignores, int64_t now_ms) {
  auto ignored = scan::ApplyIgnores(ignores, "", &report.findings, report.image, now_ms);
  std::string format = call->Query("format").value_or("json");
  if (format == "json") {
    Json j = scan::ReportJson(report);
    j["ignored"] = scan::IgnoredJson(ignored);
    return call->Reply(200, j);
  }
  if (format == "table") return call->Reply(200, Json{{"table", scan::ReportTable(report)}});
  if (format == "sarif") return call->Reply(200, scan::ReportSarif(report));
  if (format == "cyclonedx") return call->Reply(200, scan::ReportCycloneDx(report));
  call->ReplyError(
      Error(ErrorCode::kInvalidArgument,
            fmt::format("format \"{}\": want json, table, sarif or cyclonedx", format)));
}

// GET /v1/security/findings: every running instance (assignment) in a readable namespace whose
// image's published scan has findings at or above ?severity, ignores applied.
void Findings(const std::shared_ptr<Call>& call, store::Store& store, int64_t now_ms) {
  scan::Severity min = scan::Severity::kLow;
  if (auto s = call->Query("severity")) {
    auto parsed = scan::ParseSeverity(*s);
    if (!parsed) return call->ReplyError(parsed.error());
    min = *parsed;
  }
  const std::string only_ns = call->Query("namespace").value_or("");
  if (!only_ns.empty() && !call->Authorize(only_ns, Role::kViewer)) return;
  call->FilterByNamespace();
  auto assignments = store.Get(orchestrator::kNodesPrefix, {.prefix = true});
  if (!assignments) return call->ReplyError(assignments.error());
  auto ignores = scan::LoadIgnores(store);
  if (!ignores) return call->ReplyError(ignores.error());
  // image -> instances using it
  std::map<std::string, std::vector<orchestrator::Instance>> by_image;
  for (const auto& kv : assignments->kvs) {
    auto parts = orchestrator::ParseNodeKey(kv.key);
    if (!parts || parts->kind != orchestrator::NodeKeyParts::Kind::kAssignment) continue;
    if ((!only_ns.empty() && parts->ns != only_ns) || !call->MayRead(parts->ns)) continue;
    auto a = orchestrator::AssignmentFromJson(kv.value);
    if (!a) continue;
    by_image[scan::ImageKey(a->spec.image)].push_back(a->instance);
  }
  Json out = Json::array();
  for (const auto& [image, instances] : by_image) {
    auto got = store.Get(std::string(scan::kScansPrefix) + image);
    if (!got) return call->ReplyError(got.error());
    Json entry{{"image", image}};
    Json inst = Json::array();
    for (const auto& i : instances) {
      inst.push_back({{"namespace", i.ns}, {"app", i.app}, {"service", i.service}, {"id", i.id}});
    }
    entry["instances"] = std::move(inst);
    if (got->kvs.empty()) {
      entry["scanned"] = false;
      out.push_back(std::move(entry));
      continue;
    }
    auto summary = ParseJson(got->kvs[0].value);
    if (!summary || summary->contains("error")) {
      entry["scanned"] = false;
      if (summary) entry["error"] = (*summary)["error"];
      out.push_back(std::move(entry));
      continue;
    }
    entry["scanned"] = true;
    entry["scanned_ms"] = (*summary)["scanned_ms"];
    entry["db_imported_ms"] = (*summary)["db_imported_ms"];
    Json findings = Json::array();
    for (const auto& f : (*summary)["findings"]) {
      auto sev = scan::ParseSeverity(f.value("severity", "unknown"));
      if (!sev || *sev < min) continue;
      const std::string ns = instances.front().ns;
      if (scan::FindIgnore(*ignores, f.value("advisory", ""), f["aliases"], f.value("package", ""),
                           image, ns, now_ms)) {
        continue;
      }
      findings.push_back(f);
    }
    if (findings.empty()) continue;
    entry["findings"] = std::move(findings);
    out.push_back(std::move(entry));
  }
  call->Reply(200, Json{{"images", std::move(out)}});
}

void RegisterIgnoreEndpoints(Router& router, store::Store& store, Clock& clock) {
  router.Add({.method = "GET",
              .pattern = "/v1/security/ignores",
              .access = Access::kList,
              .handler = [&store](std::shared_ptr<Call> call) {
                auto list = scan::LoadIgnores(store);
                if (!list) return call->ReplyError(list.error());
                Json out = Json::array();
                for (const auto& i : *list) {
                  if (i.ns.empty() ? call->principal().SeesAllNamespaces() : call->MayRead(i.ns)) {
                    out.push_back(scan::IgnoreToJson(i));
                  }
                }
                call->Reply(200, Json{{"ignores", std::move(out)}});
              }});
  router.Add({.method = "POST",
              .pattern = "/v1/security/ignores",
              .access = Access::kHandler,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&store, &clock](std::shared_ptr<Call> call) {
                auto body = call->JsonBody();
                if (!body) return call->ReplyError(body.error());
                auto ig = scan::IgnoreFromJson(*body, clock.WallMillis());
                if (!ig) return call->ReplyError(ig.error());
                // In a namespace: its operators; everywhere: a global operator.
                if (ig->ns.empty() ? !call->AuthorizeCluster(Role::kOperator)
                                   : !call->Authorize(ig->ns, Role::kOperator)) {
                  return;
                }
                ig->created_by = call->principal().name;
                auto stored = scan::AddIgnore(store, std::move(*ig));
                if (!stored) return call->ReplyError(stored.error());
                call->Reply(201, scan::IgnoreToJson(*stored));
              }});
  router.Add({.method = "DELETE",
              .pattern = "/v1/security/ignores/{id}",
              .access = Access::kHandler,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&store](std::shared_ptr<Call> call) {
                auto list = scan::LoadIgnores(store);
                if (!list) return call->ReplyError(list.error());
                const std::string& id = call->Param("id");
                auto it = std::find_if(list->begin(), list->end(),
                                       [&](const scan::Ignore& i) { return i.id == id; });
                if (it == list->end()) {
                  return call->ReplyError(Error(ErrorCode::kNotFound, "no ignore " + id));
                }
                if (it->ns.empty() ? !call->AuthorizeCluster(Role::kOperator)
                                   : !call->Authorize(it->ns, Role::kOperator)) {
                  return;
                }
                auto r = store.Delete(std::string(scan::kIgnoresPrefix) + id);
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"id", id}, {"deleted", true}});
              }});
}

}  // namespace

void RegisterScanEndpoints(Router& router, scan::ScanService* scanner, store::Store& store,
                           Clock& clock) {
  router.Add({.method = "GET",
              .pattern = "/v1/security/db",
              .access = Access::kList,  // nothing namespaced: any token
              .handler = [scanner](std::shared_ptr<Call> call) {
                if (!scanner) return call->ReplyError(NoScanner());
                auto s = scanner->Status();
                if (!s) return call->ReplyError(s.error());
                Json eco = Json::object();
                for (const auto& [name, n] : s->ecosystems) eco[name] = n;
                call->Reply(200, Json{{"advisories", s->advisories},
                                      {"affected", s->affected},
                                      {"generation", s->generation},
                                      {"imported_ms", s->imported_ms},
                                      {"source", s->last_source},
                                      {"ecosystems", std::move(eco)}});
              }});
  router.Add({.method = "POST",
              .pattern = "/v1/security/db/import",
              .access = Access::kCluster,
              .min_role = Role::kAdmin,  // it reads a path on the node, as image import does
              .mutating = true,
              .handler = [scanner](std::shared_ptr<Call> call) {
                if (!scanner) return call->ReplyError(NoScanner());
                auto body = call->JsonBody();
                if (!body) return call->ReplyError(body.error());
                if (auto v = RejectUnknownFields(*body, {"path"}, "import body"); !v)
                  return call->ReplyError(v.error());
                if (!body->contains("path") || !(*body)["path"].is_string() ||
                    !(*body)["path"].get<std::string>().starts_with('/')) {
                  return call->ReplyError(
                      Error(ErrorCode::kInvalidArgument,
                            "import needs \"path\": an absolute path on the node (OSV JSON file, "
                            "directory or zip, or the Debian tracker's JSON)"));
                }
                auto r = scanner->Import((*body)["path"].get<std::string>());
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"advisories", r->advisories},
                                      {"affected", r->affected},
                                      {"files", r->files},
                                      {"generation", r->generation},
                                      {"imported_ms", r->imported_ms},
                                      {"warnings", r->warnings}});
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/security/scan/{ref...}",
              .access = Access::kList,  // images belong to no namespace
              .handler = [scanner, &store, &clock](std::shared_ptr<Call> call) {
                if (!scanner) return call->ReplyError(NoScanner());
                auto r = scanner->Report(ImageParam(*call), call->QueryFlag("rescan"));
                if (!r) return call->ReplyError(r.error());
                auto ignores = scan::LoadIgnores(store);
                if (!ignores) return call->ReplyError(ignores.error());
                ReplyReport(call, std::move(*r), *ignores, clock.WallMillis());
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/security/sbom/{ref...}",
              .access = Access::kList,
              .handler = [scanner](std::shared_ptr<Call> call) {
                if (!scanner) return call->ReplyError(NoScanner());
                auto r = scanner->Report(ImageParam(*call));
                if (!r) return call->ReplyError(r.error());
                std::string format = call->Query("format").value_or("cyclonedx");
                if (format == "cyclonedx") {
                  return call->Reply(
                      200, scan::CycloneDx(r->inventory, r->image, r->image_id, r->scanned_ms));
                }
                if (format == "spdx") {
                  return call->Reply(
                      200, scan::Spdx(r->inventory, r->image, r->image_id, r->scanned_ms));
                }
                if (format == "json") return call->Reply(200, scan::InventoryJson(r->inventory));
                call->ReplyError(
                    Error(ErrorCode::kInvalidArgument,
                          fmt::format("format \"{}\": want cyclonedx, spdx or json", format)));
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/security/findings",
              .access = Access::kList,
              .handler = [&store, &clock](std::shared_ptr<Call> call) {
                Findings(call, store, clock.WallMillis());
              }});
  RegisterIgnoreEndpoints(router, store, clock);
}

}  // namespace berth::api

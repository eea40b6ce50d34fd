// The inventory as CycloneDX 1.5 JSON and SPDX 2.3 JSON: the image is the described
// component/package, each package a library with its purl, and where it came from (layer,
// path, source package) as properties (CycloneDX) or source info (SPDX).
#include <fmt/chrono.h>
#include <fmt/core.h>
#include <openssl/rand.h>

#include <chrono>

#include "security/scan/inventory.h"

namespace berth::security::scan {
namespace {

std::string Uuid4() {
  unsigned char b[16];
  RAND_bytes(b, sizeof b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  return fmt::format(
      "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:"
      "02x}"
      "{:02x}",
      b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
      b[15]);
}

std::string Iso8601(int64_t ms) {
  auto tp = std::chrono::sys_seconds(std::chrono::seconds(ms / 1000));
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", tp);
}

std::string LayerOf(const Inventory& inv, const Package& p) {
  return p.layer < inv.layers.size() ? inv.layers[p.layer] : std::to_string(p.layer);
}

}  // namespace

Json CycloneDx(const Inventory& inv, std::string_view image_name, std::string_view image_id,
               int64_t now_ms) {
  Json components = Json::array();
  for (const auto& p : inv.packages) {
    const std::string purl = Purl(p, inv.distro);
    Json props = Json::array({Json{{"name", "berth:layer"}, {"value", LayerOf(inv, p)}},
                              Json{{"name", "berth:path"}, {"value", p.path}}});
    if (!p.source.empty()) props.push_back({{"name", "berth:source_package"}, {"value", p.source}});
    if (!p.source_version.empty())
      props.push_back({{"name", "berth:source_version"}, {"value", p.source_version}});
    Json c{{"type", "library"}, {"bom-ref", purl + "#" + p.path},
           {"name", p.name},    {"version", p.version},
           {"purl", purl},      {"properties", std::move(props)}};
    if (!p.licenses.empty()) {
      Json lic = Json::array();
      for (const auto& l : p.licenses) lic.push_back({{"license", {{"name", l}}}});
      c["licenses"] = std::move(lic);
    }
    components.push_back(std::move(c));
  }
  Json image{{"type", "container"},
             {"bom-ref", std::string(image_id)},
             {"name", std::string(image_name)},
             {"version", std::string(image_id)}};
  Json metadata{
      {"timestamp", Iso8601(now_ms)},
      {"tools", {{"components", Json::array({Json{{"type", "application"}, {"name", "berth"}}})}}},
      {"component", image}};
  if (!inv.distro.id.empty()) {
    metadata["properties"] = Json::array(
        {Json{{"name", "berth:distro"}, {"value", inv.distro.id + " " + inv.distro.version_id}}});
  }
  return Json{{"bomFormat", "CycloneDX"},
              {"specVersion", "1.5"},
              {"serialNumber", "urn:uuid:" + Uuid4()},
              {"version", 1},
              {"metadata", std::move(metadata)},
              {"components", std::move(components)}};
}

Json Spdx(const Inventory& inv, std::string_view image_name, std::string_view image_id,
          int64_t now_ms) {
  Json packages = Json::array();
  Json relationships = Json::array();
  packages.push_back({{"SPDXID", "SPDXRef-Image"},
                      {"name", std::string(image_name)},
                      {"versionInfo", std::string(image_id)},
                      {"downloadLocation", "NOASSERTION"},
                      {"primaryPackagePurpose", "CONTAINER"},
                      {"filesAnalyzed", false}});
  relationships.push_back({{"spdxElementId", "SPDXRef-DOCUMENT"},
                           {"relationshipType", "DESCRIBES"},
                           {"relatedSpdxElement", "SPDXRef-Image"}});
  size_t n = 0;
  for (const auto& p : inv.packages) {
    const std::string id = fmt::format("SPDXRef-Package-{}", ++n);
    std::string source = fmt::format("layer {}, {}", LayerOf(inv, p), p.path);
    if (!p.source.empty()) source += fmt::format("; built from source package {}", p.source);
    Json pkg{{"SPDXID", id},
             {"name", p.name},
             {"versionInfo", p.version},
             {"downloadLocation", "NOASSERTION"},
             {"filesAnalyzed", false},
             {"licenseConcluded", "NOASSERTION"},
             {"licenseDeclared", "NOASSERTION"},
             {"sourceInfo", source},
             {"primaryPackagePurpose", "LIBRARY"},
             {"externalRefs", Json::array({Json{{"referenceCategory", "PACKAGE-MANAGER"},
                                                {"referenceType", "purl"},
                                                {"referenceLocator", Purl(p, inv.distro)}}})}};
    if (!p.licenses.empty()) {
      std::string all;
      for (const auto& l : p.licenses) all += (all.empty() ? "" : ", ") + l;
      pkg["licenseComments"] = "as the package declares it: " + all;
    }
    packages.push_back(std::move(pkg));
    relationships.push_back({{"spdxElementId", "SPDXRef-Image"},
                             {"relationshipType", "CONTAINS"},
                             {"relatedSpdxElement", id}});
  }
  return Json{
      {"spdxVersion", "SPDX-2.3"},
      {"dataLicense", "CC0-1.0"},
      {"SPDXID", "SPDXRef-DOCUMENT"},
      {"name", std::string(image_name)},
      {"documentNamespace", fmt::format("https://spdx.berth.invalid/{}/{}", image_id, Uuid4())},
      {"creationInfo", {{"created", Iso8601(now_ms)}, {"creators", {"Tool: berth"}}}},
      {"packages", std::move(packages)},
      {"relationships", std::move(relationships)}};
}

}  // namespace berth::security::scan

// berth security db import|status, scan, sbom, findings, ignore add|ls|rm.
// -o: scan takes table (default), json, yaml, sarif or cyclonedx; sbom cyclonedx (default),
// spdx or json; the rest table, json or yaml.

#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/command.h"
#include "cli/commands.h"
#include "cli/output.h"

namespace berth::cli {
namespace {

Result<std::string> ReadText(const std::string& path) {
  std::ifstream in(path == "-" ? "/dev/stdin" : path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kNotFound, "cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void Print(const Json& j) { std::cout << j.dump(2) << "\n"; }

void AddDb(CLI::App& security, Context& ctx) {
  auto* db = security.add_subcommand("db", "The advisory database");
  db->require_subcommand(1);
  auto* import = db->add_subcommand(
      "import",
      "Import advisories: an OSV JSON file, a directory of them, OSV's zip, or the "
      "Debian security tracker's JSON (a path on the node)");
  auto path = std::make_shared<std::string>();
  import->add_option("path", *path, "File, directory or zip")->required();
  import->callback([&ctx, path] {
    ctx.run = [&ctx, path] {
      Json body{{"path", std::filesystem::absolute(*path).string()}};
  auto r = ctx.Call("POST", "/v1/security/db/import", &body);
  if (!r) return PrintError(r.error());
  if (PrintStructured(ctx, *r)) return 0;
  std::cout << fmt::format(
      "imported {} advisories ({} package rows) from {} files; "
      "generation {}\n",
      r->value("advisories", 0), r->value("affected", 0), r->value("files", 0),
      r->value("generation", 0));
  for (const auto& w : (*r)["warnings"]) std::cout << "warning: " << w.get<std::string>() << "\n";
  return 0;
};
}  // namespace
);
auto* status = db->add_subcommand("status", "Advisories, import date, ecosystems");
status->callback([&ctx] {
  ctx.run = [&ctx] {
    auto r = ctx.Call("GET", "/v1/security/db");
    if (!r) return PrintError(r.error());
    if (PrintStructured(ctx, *r)) return 0;
    int64_t imported = r->value("imported_ms", int64_t{0});
    std::cout << fmt::format("{} advisories, imported {} from {} (generation {})\n",
                             r->value("advisories", 0), imported ? FormatTime(imported) : "never",
                             r->value("source", ""), r->value("generation", 0));
    std::vector<std::vector<std::string>> rows;
    for (const auto& [eco, n] : (*r)["ecosystems"].items())
      rows.push_back({eco, std::to_string(n.get<int64_t>())});
    if (!rows.empty()) PrintTable({"ECOSYSTEM", "PACKAGE ROWS"}, rows);
    return 0;
  };
});
}  // namespace berth::cli

void AddScan(CLI::App& security, Context& ctx) {
  auto* cmd = security.add_subcommand("scan", "Scan an image: -o table|json|yaml|sarif|cyclonedx");
  ExtraFormats(cmd, ctx, {"sarif", "cyclonedx"});
  auto image = std::make_shared<std::string>();
  auto rescan = std::make_shared<bool>(false);
  cmd->add_option("image", *image, "Image name or id")->required();
  cmd->add_flag("--rescan", *rescan, "Scan again even if the last report is current");
  cmd->callback([&ctx, image, rescan] {
    ctx.run = [&ctx, image, rescan] {
      std::string format = ctx.output == "sarif" || ctx.output == "cyclonedx" ? ctx.output
                           : ctx.output == "table"                            ? "table"
                                                                              : "json";
      std::string path = fmt::format("/v1/security/scan/{}?format={}{}", PathEscape(*image), format,
                                     *rescan ? "&rescan" : "");
      auto r = ctx.Call("GET", path);
      if (!r) return PrintError(r.error());
      if (format == "table") {
        std::cout << r->value("table", "");
        return 0;
      }
      if (format == "json" && PrintStructured(ctx, *r)) return 0;
      Print(*r);
      return 0;
    };
  });
  auto* sbom = security.add_subcommand("sbom", "An image's packages: -o cyclonedx|spdx|json");
  ExtraFormats(sbom, ctx, {"cyclonedx", "spdx"});
  auto sbom_image = std::make_shared<std::string>();
  sbom->add_option("image", *sbom_image, "Image name or id")->required();
  sbom->callback([&ctx, sbom_image] {
    ctx.run = [&ctx, sbom_image] {
      std::string format = ctx.output == "spdx" || ctx.output == "json" ? ctx.output : "cyclonedx";
      auto r = ctx.Call(
          "GET", fmt::format("/v1/security/sbom/{}?format={}", PathEscape(*sbom_image), format));
      if (!r) return PrintError(r.error());
      Print(*r);
      return 0;
    };
  });
}

void AddFindings(CLI::App& security, Context& ctx) {
  auto* cmd = security.add_subcommand(
      "findings", "Running instances whose image has vulnerabilities (ignored ones left out)");
  auto severity = std::make_shared<std::string>();
  cmd->add_option("--severity", *severity, "At or above: low, medium, high, critical");
  // -n (global) names the only namespace; without it, every namespace.
  cmd->callback([&ctx, severity] {
    ctx.run = [&ctx, severity] {
      const std::string ns = ctx.ExplicitNamespace();
      std::string path = "/v1/security/findings";
      std::string sep = "?";
      if (!severity->empty()) path += sep + "severity=" + PathEscape(*severity), sep = "&";
      if (!ns.empty()) path += sep + "namespace=" + PathEscape(ns);
      auto r = ctx.Call("GET", path);
      if (!r) return PrintError(r.error());
      if (PrintStructured(ctx, *r)) return 0;
      std::vector<std::vector<std::string>> rows;
      for (const auto& im : (*r)["images"]) {
        std::string where;
        for (const auto& i : im["instances"]) {
          where += (where.empty() ? "" : ",") + i.value("namespace", "") + "/" +
                   i.value("app", "") + "/" + i.value("id", "");
        }
        if (!im.value("scanned", false)) {
          rows.push_back({im.value("image", ""), "-", "not scanned", "-", "-", where});
          continue;
        }
        for (const auto& f : im["findings"]) {
          rows.push_back({im.value("image", ""), f.value("severity", ""), f.value("advisory", ""),
                          f.value("package", ""),
                          f.value("fixed", "").empty() ? "-" : f.value("fixed", ""), where});
        }
      }
      PrintTable({"IMAGE", "SEVERITY", "ADVISORY", "PACKAGE", "FIXED", "INSTANCES"}, rows);
      return 0;
    };
  });
}

void AddIgnore(CLI::App& security, Context& ctx) {
  auto* ignore =
      security.add_subcommand("ignore", "Findings that do not apply (VEX) or are accepted");
  ignore->require_subcommand(1);
  struct Opts {
    std::string advisory, reason, expires, package, image, ns, status = "not_affected",
                                                               justification;
  };
  auto o = std::make_shared<Opts>();
  auto* add = ignore->add_subcommand("add", "Ignore an advisory (or its CVE id), with a reason");
  add->add_option("advisory", o->advisory, "Advisory id or alias (CVE-...)")->required();
  add->add_option("--reason", o->reason, "Why it is safe")->required();
  add->add_option("--expires", o->expires, "A date (2027-01-31), days (90d), or never")->required();
  add->add_option("--package", o->package, "Only this package");
  add->add_option("--image", o->image, "Only this image");
  // -n (global): only in that namespace.
  add->add_option("--status", o->status, "not_affected (VEX, default) or accepted");
  add->add_option("--justification", o->justification,
                  "VEX justification (component_not_present, vulnerable_code_not_present, ...)");
  add->callback([&ctx, o] {
    ctx.run = [&ctx, o] {
      o->ns = ctx.ExplicitNamespace();
      Json body{{"advisory", o->advisory},
                {"reason", o->reason},
                {"expires", o->expires},
                {"status", o->status}};
      for (auto [k, v] : {std::pair{"package", &o->package},
                          {"image", &o->image},
                          {"namespace", &o->ns},
                          {"justification", &o->justification}}) {
        if (!v->empty()) body[k] = *v;
      }
      auto r = ctx.Call("POST", "/v1/security/ignores", &body);
      if (!r) return PrintError(r.error());
      if (PrintStructured(ctx, *r)) return 0;
      std::cout << "ignore " << r->value("id", "") << "\n";
      return 0;
    };
  });
  auto* ls = ignore->add_subcommand("ls", "List the ignore list");
  ls->callback([&ctx] {
    ctx.run = [&ctx] {
      auto r = ctx.Call("GET", "/v1/security/ignores");
      if (!r) return PrintError(r.error());
      if (PrintStructured(ctx, *r)) return 0;
      std::vector<std::vector<std::string>> rows;
      for (const auto& i : (*r)["ignores"]) {
        int64_t exp = i.value("expires_ms", int64_t{0});
        rows.push_back({i.value("id", ""), i.value("advisory", ""), i.value("status", ""),
                        i.value("namespace", "").empty() ? "*" : i.value("namespace", ""),
                        exp ? FormatTime(exp) : "never", i.value("reason", "")});
      }
      PrintTable({"ID", "ADVISORY", "STATUS", "NAMESPACE", "EXPIRES", "REASON"}, rows);
      return 0;
    };
  });
  auto* rm = ignore->add_subcommand("rm", "Remove an ignore by id");
  auto id = std::make_shared<std::string>();
  rm->add_option("id", *id, "Ignore id (from ignore ls)")->required();
  rm->callback([&ctx, id] {
    ctx.run = [&ctx, id] {
      auto r = ctx.Call("DELETE", "/v1/security/ignores/" + PathEscape(*id));
      if (!r) return PrintError(r.error());
      if (PrintStructured(ctx, *r)) return 0;
      std::cout << "removed " << *id << "\n";
      return 0;
    };
  });
}

void AddPolicy(CLI::App& security, Context& ctx) {
  auto* policy = security.add_subcommand("policy", "Admission policy per namespace");
  policy->require_subcommand(1);
  auto ns = std::make_shared<std::string>();
  auto file = std::make_shared<std::string>();
  auto* set = policy->add_subcommand("set", "Set a namespace's policy from a YAML file (admin)");
  set->add_option("namespace", *ns, "Namespace")->required();
  set->add_option("-f,--file", *file, "Policy YAML (- for stdin)")->required();
  set->callback([&ctx, ns, file] {
    ctx.run = [&ctx, ns, file] {
      auto text = ReadText(*file);
      if (!text) return PrintError(text.error());
      auto r = ctx.CallText("PUT", "/v1/security/policies/" + PathEscape(*ns), std::move(*text),
                            "application/yaml");
      if (!r) return PrintError(r.error());
      if (PrintStructured(ctx, *r)) return 0;
      const Json& p = (*r)["policy"];
      std::cout << fmt::format("policy of {}: {} ({})\n", *ns, p.value("level", ""),
                               p.value("mode", ""));
      return 0;
    };
  });
  auto get_ns = std::make_shared<std::string>();
  auto* get = policy->add_subcommand("get", "Show a namespace's policy");
  get->add_option("namespace", *get_ns, "Namespace")->required();
  get->callback([&ctx, get_ns] {
    ctx.run = [&ctx, get_ns] {
      auto r = ctx.Call("GET", "/v1/security/policies/" + PathEscape(*get_ns));
      if (!r) return PrintError(r.error());
      if (PrintStructured(ctx, *r)) return 0;
      std::cout << r->value("text", "");
      return 0;
    };
  });
  auto rm_ns = std::make_shared<std::string>();
  auto* rm = policy->add_subcommand("rm", "Remove a namespace's policy (admin)");
  rm->add_option("namespace", *rm_ns, "Namespace")->required();
  rm->callback([&ctx, rm_ns] {
    ctx.run = [&ctx, rm_ns] {
      auto r = ctx.Call("DELETE", "/v1/security/policies/" + PathEscape(*rm_ns));
      if (!r) return PrintError(r.error());
      if (PrintStructured(ctx, *r)) return 0;
      std::cout << "removed the policy of " << *rm_ns << "\n";
      return 0;
    };
  });
  auto* ls = policy->add_subcommand("ls", "Policies of the namespaces you may read");
  ls->callback([&ctx] {
    ctx.run = [&ctx] {
      auto r = ctx.Call("GET", "/v1/security/policies");
      if (!r) return PrintError(r.error());
      if (PrintStructured(ctx, *r)) return 0;
      std::vector<std::vector<std::string>> rows;
      for (const auto& p : (*r)["policies"]) {
        rows.push_back({p.value("namespace", ""), p["policy"].value("level", ""),
                        p["policy"].value("mode", "")});
      }
      PrintTable({"NAMESPACE", "LEVEL", "MODE"}, rows);
      return 0;
    };
  });
}

}  // namespace

void AddScanCommands(CLI::App& app, Context& ctx) {
  auto* security = app.add_subcommand("security", "Image scanning, SBOMs, ignore list");
  security->require_subcommand(1);
  AddDb(*security, ctx);
  AddScan(*security, ctx);
  AddFindings(*security, ctx);
  AddIgnore(*security, ctx);
  AddPolicy(*security, ctx);
}

}  // namespace berth::cli

#include "api/config_endpoints.h"

#include <fmt/core.h>

#include "core/input.h"
#include "core/try.h"

namespace berth::api {
namespace {

using security::Role;

config::Caller CallerOf(const Call& call) {
  const auto& p = call.principal();
  return config::Caller{.name = config::AuthorName(p.name, p.token_id),
                        .token = p.token_id,
                        .may_read_unreleased = p.RoleIn(call.Param("ns")) >= Role::kOperator};
}

Json ItemJson(const config::Item& item) {
  Json j = config::ToJson(item);
  j["mod_revision"] = item.mod_revision;
  return j;
}

Json WriteJson(const config::WriteResult& w) {
  Json j{{"action", w.action}, {"revision", w.revision}};
  if (!w.item.name.empty()) j["config"] = ItemJson(w.item);
  if (w.version) j["version"] = config::ToJson(*w.version);
  return j;
}

Result<config::Format> ReadFormat(const input::Node& n) {
  auto f = config::ParseFormat(n.text());
  if (!f) return n.Fail(f.error().message);
  return *f;
}

Result<config::GraySelector> ReadGray(const input::Node& n) {
  auto g = config::GraySelectorFromJson(input::ToJson(n));
  if (!g) return n.Fail(g.error().message);
  if (auto ok = g->Validate(); !ok) return n.Fail(ok.error().message);
  return *g;
}

// PUT /v1/configs/{ns}/{name}: {"content", "format"?, "labels"?, "message"?, "draft"?,
// "gray"?, "expect_latest"?}.
Result<config::PublishRequest> ReadPublish(const Call& call) {
  auto doc = BERTH_TRY(call.ReadBody());
  config::PublishRequest r;
  r.ns = call.Param("ns");
  r.name = call.Param("name");
  input::Object o(doc.root());
  o.Required("content", r.content);
  o.Optional("format", r.format, ReadFormat);
  o.Optional("labels", r.labels, input::MapOf(input::String));
  o.Optional("message", r.message);
  o.Optional("draft", r.draft);
  o.Optional("gray", r.gray, ReadGray);
  o.Optional("expect_latest", r.expect_latest, input::Int(0, INT64_MAX));
  BERTH_TRY(o.Done());
  if (r.draft && r.gray) {
    return Fail(ErrorCode::kInvalidArgument,
                "request body: draft and gray do not go together (a draft is published to a "
                "gray set later: POST .../publish with gray)");
  }
  return r;
}

struct EndGrayBody {
  std::optional<config::GraySelector> gray;
  std::string message;
  int64_t to = 0;
};

Result<EndGrayBody> ReadActionBody(const Call& call, bool want_to) {
  auto doc = BERTH_TRY(call.ReadBody(/*allow_empty=*/!want_to));
  EndGrayBody b;
  input::Object o(doc.root());
  o.Optional("message", b.message);
  if (want_to) {
    o.Required("to", b.to, input::Int(1, INT64_MAX, "a version number"));
  } else {
    o.Optional("gray", b.gray, ReadGray);
  }
  BERTH_TRY(o.Done());
  return b;
}

Result<config::ListOptions> ReadListOptions(const Call& call) {
  config::ListOptions o;
  o.prefix = call.Query("prefix").value_or("");
  o.after = call.Query("after").value_or("");
  o.limit = BERTH_TRY(call.QueryInt("limit", 0));
  if (o.limit < 0) return Fail(ErrorCode::kInvalidArgument, "limit must not be negative");
  if (auto label = call.Query("label"); label && !label->empty()) {
    o.labels = BERTH_TRY(config::ParseLabelList(*label, "label filter"));
  }
  return o;
}

Json AckJson(const config::Ack& a) { return config::ToJson(a); }

void RegisterItemReads(Router& router, config::ConfigCenter& center) {
  router.Add({.method = "GET",
              .pattern = "/v1/configs/{ns}",
              .access = Access::kNamespace,
              .handler = [&center](std::shared_ptr<Call> call) {
                auto opts = ReadListOptions(*call);
                if (!opts) return call->ReplyError(opts.error());
                auto list = center.List(call->Param("ns"), *opts);
                if (!list) return call->ReplyError(list.error());
                Json items = Json::array();
                for (const auto& i : list->items) items.push_back(ItemJson(i));
                Json out{{"configs", std::move(items)},
                         {"total", list->total},
                         {"revision", list->revision}};
                if (!list->next.empty()) out["next"] = list->next;
                call->Reply(200, out);
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/configs/{ns}/{name}",
              .access = Access::kNamespace,
              .handler = [&center](std::shared_ptr<Call> call) {
                auto version = call->QueryInt("version", 0);
                if (!version) return call->ReplyError(version.error());
                auto r = center.ReadVersion(call->Param("ns"), call->Param("name"), *version,
                                            CallerOf(*call));
                if (!r) return call->ReplyError(r.error());
                Json out = ItemJson(r->item);
                out["version"] = config::ToJson(r->version);
                out["content"] = r->content;
                call->Reply(200, out);
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/configs/{ns}/{name}/history",
              .access = Access::kNamespace,
              .handler = [&center](std::shared_ptr<Call> call) {
                auto limit = call->QueryInt("limit", 0);
                if (!limit) return call->ReplyError(limit.error());
                auto h = center.History(call->Param("ns"), call->Param("name"), *limit);
                if (!h) return call->ReplyError(h.error());
                Json versions = Json::array();
                for (const auto& v : *h) versions.push_back(config::ToJson(v));
                call->Reply(200, Json{{"versions", std::move(versions)}});
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/configs/{ns}/{name}/diff",
              .access = Access::kNamespace,
              .handler = [&center](std::shared_ptr<Call> call) {
                auto from = call->QueryInt("from", 0);
                if (!from) return call->ReplyError(from.error());
                auto to = call->QueryInt("to", 0);
                if (!to) return call->ReplyError(to.error());
                if (*from <= 0) {
                  return call->ReplyError(Error(
                      ErrorCode::kInvalidArgument,
                      "diff needs from=VERSION (and to=VERSION; without it the released one)"));
                }
                auto d = center.Diff(call->Param("ns"), call->Param("name"), *from, *to,
                                     CallerOf(*call));
                if (!d) return call->ReplyError(d.error());
                call->Reply(200, Json{{"from", d->from},
                                      {"to", d->to},
                                      {"added", d->diff.added},
                                      {"removed", d->diff.removed},
                                      {"format_changed", d->format_changed},
                                      {"diff", d->diff.unified}});
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/configs/{ns}/{name}/draft",
              .access = Access::kNamespace,
              .handler = [&center](std::shared_ptr<Call> call) {
                auto d = center.ReadDraft(call->Param("ns"), call->Param("name"));
                if (!d) return call->ReplyError(d.error());
                Json out = config::ToJson(d->first);
                out.erase("author_token");
                out["content"] = d->second;
                call->Reply(200, out);
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/configs/{ns}/{name}/status",
              .access = Access::kNamespace,
              .handler = [&center](std::shared_ptr<Call> call) {
                auto item = center.Get(call->Param("ns"), call->Param("name"));
                if (!item) return call->ReplyError(item.error());
                auto acks = center.Acks(call->Param("ns"), call->Param("name"));
                if (!acks) return call->ReplyError(acks.error());
                Json consumers = Json::array();
                int64_t behind = 0;
                for (const auto& a : *acks) {
                  Json j = AckJson(a);
                  const bool current = a.version == item->released ||
                                       (item->gray && a.version == item->gray->version);
                  j["current"] = current;
                  behind += current ? 0 : 1;
                  consumers.push_back(std::move(j));
                }
                call->Reply(200, Json{{"config", ItemJson(*item)},
                                      {"consumers", std::move(consumers)},
                                      {"behind", behind}});
              }});
}

void RegisterItemWrites(Router& router, config::ConfigCenter& center) {
  router.Add({.method = "PUT",
              .pattern = "/v1/configs/{ns}/{name}",
              .access = Access::kNamespace,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&center](std::shared_ptr<Call> call) {
                auto req = ReadPublish(*call);
                if (!req) return call->ReplyError(req.error());
                auto w = center.Publish(*req, CallerOf(*call));
                if (!w) return call->ReplyError(w.error());
                const bool created = w->item.latest == 1 && w->action == "published";
                call->Reply(created ? 201 : 200, WriteJson(*w));
              }});
  router.Add({.method = "DELETE",
              .pattern = "/v1/configs/{ns}/{name}",
              .access = Access::kNamespace,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&center](std::shared_ptr<Call> call) {
                auto w = center.Delete(call->Param("ns"), call->Param("name"), CallerOf(*call));
                if (!w) return call->ReplyError(w.error());
                call->Reply(200, WriteJson(*w));
              }});
  router.Add({.method = "POST",
              .pattern = "/v1/configs/{ns}/{name}/rollback",
              .access = Access::kNamespace,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&center](std::shared_ptr<Call> call) {
                auto b = ReadActionBody(*call, true);
                if (!b) return call->ReplyError(b.error());
                auto w = center.Rollback(call->Param("ns"), call->Param("name"), b->to, b->message,
                                         CallerOf(*call));
                if (!w) return call->ReplyError(w.error());
                call->Reply(200, WriteJson(*w));
              }});
  router.Add({.method = "POST",
              .pattern = "/v1/configs/{ns}/{name}/publish",
              .access = Access::kNamespace,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&center](std::shared_ptr<Call> call) {
                auto b = ReadActionBody(*call, false);
                if (!b) return call->ReplyError(b.error());
                auto w = center.PublishDraft(call->Param("ns"), call->Param("name"), b->gray,
                                             b->message, CallerOf(*call));
                if (!w) return call->ReplyError(w.error());
                call->Reply(200, WriteJson(*w));
              }});
  for (const bool promote : {true, false}) {
    router.Add(
        {.method = "POST",
         .pattern = promote ? "/v1/configs/{ns}/{name}/promote" : "/v1/configs/{ns}/{name}/abort",
         .access = Access::kNamespace,
         .min_role = Role::kOperator,
         .mutating = true,
         .handler = [&center, promote](std::shared_ptr<Call> call) {
           auto c = CallerOf(*call);
           auto w = promote ? center.Promote(call->Param("ns"), call->Param("name"), c)
                            : center.Abort(call->Param("ns"), call->Param("name"), c);
           if (!w) return call->ReplyError(w.error());
           call->Reply(200, WriteJson(*w));
         }});
  }
  router.Add({.method = "DELETE",
              .pattern = "/v1/configs/{ns}/{name}/draft",
              .access = Access::kNamespace,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&center](std::shared_ptr<Call> call) {
                auto r = center.DeleteDraft(call->Param("ns"), call->Param("name"));
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"action", "deleted"}});
              }});
}

// PUT /v1/config-namespaces/{ns}: {"review"?, "max_items"?, "max_bytes"?, "max_item_bytes"?}
// (sizes as numbers of bytes or "256MiB").
Result<config::NamespaceSettings> ReadNamespace(const Call& call) {
  auto doc = BERTH_TRY(call.ReadBody(/*allow_empty=*/true));
  config::NamespaceSettings s;
  s.ns = call.Param("ns");
  input::Object o(doc.root());
  o.Optional("review", s.review);
  o.Optional("max_items", s.max_items, input::Int(1, 1'000'000));
  o.Optional("max_bytes", s.max_bytes, input::Bytes{1, int64_t{1} << 40});
  o.Optional("max_item_bytes", s.max_item_bytes, input::Bytes{1, int64_t{1} << 40});
  BERTH_TRY(o.Done());
  return s;
}

void RegisterNamespaceEndpoints(Router& router, config::ConfigCenter& center) {
  router.Add({.method = "GET",
              .pattern = "/v1/config-namespaces",
              .access = Access::kList,
              .handler = [&center](std::shared_ptr<Call> call) {
                auto list = center.ListNamespaces();
                if (!list) return call->ReplyError(list.error());
                Json out = Json::array();
                for (const auto& s : *list) {
                  if (call->MayRead(s.ns)) out.push_back(config::ToJson(s));
                }
                call->Reply(200, Json{{"namespaces", std::move(out)}});
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/config-namespaces/{ns}",
              .access = Access::kNamespace,
              .handler = [&center](std::shared_ptr<Call> call) {
                auto s = center.GetNamespace(call->Param("ns"));
                if (!s) return call->ReplyError(s.error());
                call->Reply(200, config::ToJson(*s));
              }});
  router.Add({.method = "PUT",
              .pattern = "/v1/config-namespaces/{ns}",
              .access = Access::kCluster,
              .min_role = Role::kAdmin,
              .mutating = true,
              .handler = [&center](std::shared_ptr<Call> call) {
                auto s = ReadNamespace(*call);
                if (!s) return call->ReplyError(s.error());
                auto w = center.PutNamespace(*s, CallerOf(*call));
                if (!w) return call->ReplyError(w.error());
                auto now = center.GetNamespace(s->ns);
                if (!now) return call->ReplyError(now.error());
                call->Reply(w->action == "created" ? 201 : 200,
                            Json{{"action", w->action},
                                 {"revision", w->revision},
                                 {"namespace", config::ToJson(*now)}});
              }});
  router.Add({.method = "DELETE",
              .pattern = "/v1/config-namespaces/{ns}",
              .access = Access::kCluster,
              .min_role = Role::kAdmin,
              .mutating = true,
              .handler = [&center](std::shared_ptr<Call> call) {
                auto w = center.DeleteNamespace(call->Param("ns"));
                if (!w) return call->ReplyError(w.error());
                call->Reply(200, Json{{"action", w->action}, {"revision", w->revision}});
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/config-namespaces/{ns}/export",
              .access = Access::kNamespace,
              .handler = [&center](std::shared_ptr<Call> call) {
                auto text = center.Export(call->Param("ns"));
                if (!text) return call->ReplyError(text.error());
                call->ReplyJsonText(200, std::move(*text));
              }});
  router.Add(
      {.method = "POST",
       .pattern = "/v1/config-namespaces/{ns}/import",
       .access = Access::kNamespace,
       .min_role = Role::kOperator,
       .mutating = true,
       .handler = [&center](std::shared_ptr<Call> call) {
         const bool dry_run = call->QueryFlag("dry_run");
         auto r = center.Import(call->Param("ns"), call->request().body, dry_run, CallerOf(*call));
         if (!r) return call->ReplyError(r.error());
         Json items = Json::array();
         for (const auto& i : r->items) {
           items.push_back(Json{{"name", i.name}, {"action", i.action}, {"version", i.version}});
         }
         call->Reply(
             200,
             Json{{"items", std::move(items)}, {"revision", r->revision}, {"dry_run", r->dry_run}});
       }});
}

}  // namespace

void RegisterConfigEndpoints(Router& router, config::ConfigCenter& center) {
  RegisterItemReads(router, center);
  RegisterItemWrites(router, center);
  RegisterNamespaceEndpoints(router, center);
}

}  // namespace berth::api

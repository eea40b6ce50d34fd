#include "logs/analysis/exceptions.h"

#include <gtest/gtest.h>

namespace berth::logs::analysis {
namespace {

constexpr const char* kJava =
    "2026-12-07 22:40:01 ERROR [http-7] c.s.Api - request failed\n"
    "java.lang.IllegalStateException: cart 8812 is closed\n"
    "\tat com.shop.Cart.add(Cart.java:42)\n"
    "\tat com.shop.Api.lambda$handle$3(Api.java:120)\n"
    "\tat java.base/java.lang.Thread.run(Thread.java:829)\n"
    "Caused by: java.io.IOException: broken pipe\n"
    "\tat com.shop.Db.read(Db.java:7)\n"
    "\t... 3 more";

constexpr const char* kPython =
    "Traceback (most recent call last):\n"
    "  File \"/srv/app/main.py\", line 31, in <module>\n"
    "    main()\n"
    "  File \"/srv/app/orders.py\", line 12, in place_order\n"
    "    total = price / qty\n"
    "ZeroDivisionError: division by zero";

constexpr const char* kGo =
    "panic: runtime error: index out of range [5] with length 3\n"
    "\n"
    "goroutine 18 [running]:\n"
    "panic({0x4a1b20, 0xc000014150})\n"
    "\t/usr/local/go/src/runtime/panic.go:884 +0x213\n"
    "main.(*Server).lookup(0xc00007e000, 0x5)\n"
    "\t/app/server.go:44 +0x1d\n"
    "main.main()\n"
    "\t/app/main.go:12 +0x25\n"
    "exit status 2";

constexpr const char* kCpp =
    "terminate called after throwing an instance of 'std::runtime_error'\n"
    "  what():  config file /etc/app.conf missing\n"
    "#0 0x00007f1c2a4 in raise () from /lib/x86_64-linux-gnu/libc.so.6\n"
    "#1 0x000055d1e2 in LoadConfig(std::string const&) /src/config.cc:88\n";

TEST(ParseStackTrace, ReadsTypeMessageAndNormalisedFramesOfEachLanguage) {
  struct Case {
    const char* record;
    const char* language;
    const char* type;
    const char* message;
    std::vector<std::string> frames;
  };
  const Case cases[] = {
      {kJava,
       "java",
       "java.lang.IllegalStateException",
       "cart 8812 is closed",
       {"com.shop.Cart.add", "com.shop.Api.lambda$handle$<n>", "java.lang.Thread.run"}},
      {kPython,
       "python",
       "ZeroDivisionError",
       "division by zero",
       {"orders.py:place_order", "main.py:<module>"}},
      {kGo,
       "go",
       "panic",
       "runtime error: index out of range [5] with length 3",
       {"main.(*Server).lookup", "main.main"}},
      {kCpp,
       "c++",
       "std::runtime_error",
       "config file /etc/app.conf missing",
       {"raise", "LoadConfig"}},
  };
  for (const auto& c : cases) {
    auto t = ParseStackTrace(c.record);
    ASSERT_TRUE(t.has_value()) << c.record;
    EXPECT_EQ(t->language, c.language);
    EXPECT_EQ(t->type, c.type);
    EXPECT_EQ(t->message, c.message);
    EXPECT_EQ(t->frames, c.frames) << c.record;
  }
}

TEST(ParseStackTrace, PlainLinesAndMultilineTextWithoutTraceAreNone) {
  for (const char* record : {"GET /api 200 3ms", "ERROR java.lang.IllegalStateException: x",
                             "first line\n  continued with indentation\n  and more",
                             "Traceback (most recent call last):\n  File \"x.py\", line 1"}) {
    EXPECT_FALSE(ParseStackTrace(record).has_value()) << record;
  }
}

TEST(ParseStackTrace, PythonChainedExceptionsGroupByTheLastOne) {
  auto t = ParseStackTrace(
      "Traceback (most recent call last):\n"
      "  File \"a.py\", line 3, in f\n"
      "KeyError: 'x'\n"
      "\n"
      "During handling of the above exception, another exception occurred:\n"
      "\n"
      "Traceback (most recent call last):\n"
      "  File \"a.py\", line 5, in g\n"
      "RuntimeError: lookup failed");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->type, "RuntimeError");
  EXPECT_EQ(t->frames, std::vector<std::string>{"a.py:g"});
}

TEST(MaskVariables, MasksNumbersAddressesAndIdsButNotDigitsInsideWords) {
  EXPECT_EQ(MaskVariables("user 42 at 0x7ffd3a req 3f2a9c1e-77b0-4c1d-9a57-0c1b2d3e4f50"),
            "user <n> at <hex> req <id>");
  EXPECT_EQ(MaskVariables("org.apache.log4j.Http2Handler.lambda$run$12"),
            "org.apache.log4j.Http2Handler.lambda$run$<n>");
}

TEST(ExceptionGroups, SameTypeAndFramesAreOneGroupWhateverTheNumbersAndMessages) {
  ExceptionGroups groups;
  std::string other_cart(kJava);
  other_cart.replace(other_cart.find("8812"), 4, "17");
  other_cart.replace(other_cart.find("Cart.java:42"), 12, "Cart.java:43");  // a new build
  std::string other_lambda(kJava);
  other_lambda.replace(other_lambda.find("lambda$handle$3"), 15, "lambda$handle$9");
  EXPECT_TRUE(groups.Add(kJava, 100, "web-1"));
  EXPECT_TRUE(groups.Add(other_cart, 300, "web-2"));
  EXPECT_TRUE(groups.Add(other_lambda, 50, "web-1"));
  EXPECT_TRUE(groups.Add(kPython, 200, "worker-1"));
  EXPECT_FALSE(groups.Add("GET / 200", 10, "web-1"));
  auto g = groups.Groups();
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(groups.traces(), 4u);
  EXPECT_EQ(g[0].type, "java.lang.IllegalStateException");
  EXPECT_EQ(g[0].count, 3u);
  EXPECT_EQ(g[0].first_seen_ns, 50);
  EXPECT_EQ(g[0].last_seen_ns, 300);
  EXPECT_EQ(g[0].message, "cart 17 is closed");  // the newest
  EXPECT_EQ(g[0].instances, (std::set<std::string>{"web-1", "web-2"}));
  EXPECT_EQ(g[0].example, kJava);
  EXPECT_EQ(g[1].type, "ZeroDivisionError");
  EXPECT_EQ(g[1].count, 1u);
  EXPECT_NE(g[0].fingerprint, g[1].fingerprint);
  EXPECT_EQ(g[0].fingerprint.size(), 16u);
}

TEST(ExceptionGroups, ADifferentTopFrameIsADifferentGroup) {
  ExceptionGroups groups;
  std::string elsewhere(kJava);
  elsewhere.replace(elsewhere.find("com.shop.Cart.add"), 17, "com.shop.Cart.pay");
  groups.Add(kJava, 1, "a");
  groups.Add(elsewhere, 2, "a");
  EXPECT_EQ(groups.Groups().size(), 2u);
}

}  // namespace
}  // namespace berth::logs::analysis

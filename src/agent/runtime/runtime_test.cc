#include "agent/runtime/runtime.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "agent/runtime/oci_cli_runtime.h"

namespace berth::agent::runtime {
namespace {

TEST(RuntimeTest, ChosenByName) {
  auto runc = MakeRuntime("runc", "/tmp/berth-runtime-test");
  ASSERT_TRUE(runc) << runc.error().message;
  EXPECT_EQ((*runc)->Name(), "runc");
  EXPECT_TRUE((*runc)->Binary().ends_with("/runc"));
  EXPECT_EQ((*runc)->StateRoot(), "/tmp/berth-runtime-test");
  auto crun2 = MakeCrun("/usr/bin/crun", "/x");
  EXPECT_EQ(crun2->Name(), "crun");
  auto bogus = MakeRuntime("no-such-runtime", "/x");
  ASSERT_FALSE(bogus);
  EXPECT_EQ(bogus.error().code, ErrorCode::kNotFound);
}

TEST(RuntimeTest, StatusOfUnknownContainerIsNotFound) {
  auto runc = MakeRuntime("runc", "/tmp/berth-runtime-test-" + std::to_string(::getpid()));
  ASSERT_TRUE(runc);
  auto s = (*runc)->Status("does-not-exist");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace berth::agent::runtime

// The file datastore's reading of the cluster file (datastore/file_datastore.h): bounded as
// ovlctl's, so that `clusterFile: /dev/zero`, a FIFO or a huge file fails at once with one issue;
// and its changes, handed over as only the services that changed where only they did.
#include "datastore/file_datastore.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <variant>

#include "tests/unit/model/test_inputs.h"

namespace ovl {
namespace {

using test::TempDir;

// Loads `path` through a FileDatastore. That nothing is read is shown by the message (the kind or
// the size, found before a read); a read of /dev/zero or a writerless FIFO would never return.
ClusterLoad loadFast(const std::string& path) {
  auto store = FileDatastore::create(path);
  EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().message);
  std::optional<ClusterLoad> load = store->loadIfChanged();
  EXPECT_TRUE(load.has_value());
  return load ? std::move(*load) : ClusterLoad{};
}

TEST(FileDatastore, DeviceFifoAndHugeFileFailFast) {
  TempDir dir;
  const std::string zero = dir.path() + "/zero.yaml";
  std::filesystem::create_symlink("/dev/zero", zero);
  ClusterLoad load = loadFast(zero);
  EXPECT_TRUE(load.fatal);
  ASSERT_EQ(load.issues.size(), 1u);
  EXPECT_EQ(load.issues[0].toString(),
            zero + ": cannot read the file: it is a character device; expected a regular file");

  const std::string fifo = dir.path() + "/fifo.yaml";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  load = loadFast(fifo);
  EXPECT_TRUE(load.fatal);
  ASSERT_EQ(load.issues.size(), 1u);
  EXPECT_NE(load.issues[0].message.find("a pipe (FIFO)"), std::string::npos);

  const std::string big = dir.write("big.yaml", "");
  ASSERT_EQ(::truncate(big.c_str(), 1ll << 34), 0);  // 16 GiB, sparse
  load = loadFast(big);
  EXPECT_TRUE(load.fatal);
  ASSERT_EQ(load.issues.size(), 1u);
  EXPECT_EQ(load.issues[0].message, "the file is 17179869184 bytes; expected at most 64 MiB");
}

TEST(FileDatastore, ReadsARegularFileAndItsChanges) {
  TempDir dir;
  const std::string path = dir.write("cluster.yaml", "network:\n  podCIDR: 10.244.0.0/16\n");
  auto store = FileDatastore::create(path);
  ASSERT_TRUE(store.ok());
  std::optional<ClusterLoad> load = store->loadIfChanged();
  ASSERT_TRUE(load.has_value());
  EXPECT_TRUE(load->issues.empty());
  EXPECT_FALSE(store->loadIfChanged().has_value());  // the same content
  dir.write("cluster.yaml", "network:\n  podCIDR: 10.244.0.0/16\n---\nnodes: []\n");
  load = store->loadIfChanged();
  ASSERT_TRUE(load.has_value());
  ASSERT_EQ(load->issues.size(), 1u);
  EXPECT_EQ(load->issues[0].mark.line, 3);
}

std::string clusterWith(int endpoint, int vni = 1) {
  std::string text = fmt::format(
      "network:\n  podCIDR: 10.244.0.0/16\n  serviceCIDR: 10.96.0.0/12\n  vni: {}\nservices:\n",
      vni);
  for (int i = 0; i < 3; ++i) {
    text += fmt::format(
        "  - namespace: default\n    name: svc-{}\n    clusterIP: 10.96.0.{}\n    ports:\n"
        "      - port: 80\n    endpoints:\n      - ip: 10.244.1.{}\n",
        i, i + 1, i == 1 ? endpoint : 1);
  }
  return text;
}

// One service changed: only it is handed over; the network changed: a whole snapshot; an
// unreadable file, then the same content again: a snapshot again (nothing is assumed).
TEST(FileDatastore, OnlyTheChangedServicesAreHandedOver) {
  TempDir dir;
  const std::string path = dir.write("cluster.yaml", clusterWith(5));
  auto store = FileDatastore::create(path);
  ASSERT_TRUE(store.ok());
  auto first = store->nextChange();
  ASSERT_TRUE(first && std::holds_alternative<ClusterLoad>(*first));
  EXPECT_EQ(std::get<ClusterLoad>(*first).cluster.services.size(), 3u);
  EXPECT_FALSE(store->nextChange());

  dir.write("cluster.yaml", clusterWith(9));
  auto change = store->nextChange();
  ASSERT_TRUE(change && std::holds_alternative<ServiceDelta>(*change));
  const ServiceDelta& delta = std::get<ServiceDelta>(*change);
  ASSERT_EQ(delta.upserts.size(), 1u);
  EXPECT_EQ(delta.upserts[0].id(), "default/svc-1");
  EXPECT_EQ(delta.upserts[0].endpoints.at(0).ip.toString(), "10.244.1.9");
  EXPECT_TRUE(delta.removed.empty());
  EXPECT_EQ(delta.revision, 2u);

  dir.write("cluster.yaml", clusterWith(9, 2));
  change = store->nextChange();
  ASSERT_TRUE(change && std::holds_alternative<ClusterLoad>(*change));
  EXPECT_EQ(std::get<ClusterLoad>(*change).cluster.network.vni, 2u);

  std::filesystem::remove(path);
  change = store->nextChange();
  ASSERT_TRUE(change && std::holds_alternative<ClusterLoad>(*change));
  EXPECT_TRUE(std::get<ClusterLoad>(*change).fatal);
  dir.write("cluster.yaml", clusterWith(9, 2));
  change = store->nextChange();
  ASSERT_TRUE(change && std::holds_alternative<ClusterLoad>(*change));
  EXPECT_FALSE(std::get<ClusterLoad>(*change).fatal);
}

// Another file of the directory written (a temporary file before its rename onto the name) does
// not make the cluster file a candidate; the rename onto the name does, and so does any event
// when the name is a symlink.
TEST(FileDatastore, OnlyEventsThatMayConcernTheFileCount) {
  TempDir dir;
  const std::string path = dir.write("cluster.yaml", clusterWith(5));
  auto store = FileDatastore::create(path);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE(store->nextChange());
  EXPECT_FALSE(store->maybeChanged());
  const std::string next = dir.write("cluster.next", clusterWith(9));
  EXPECT_FALSE(store->maybeChanged());
  std::filesystem::rename(next, path);
  EXPECT_TRUE(store->maybeChanged());
  ASSERT_TRUE(store->nextChange());

  const std::string target = dir.write("real.yaml", clusterWith(9));
  std::filesystem::remove(path);
  std::filesystem::create_symlink(target, path);
  EXPECT_TRUE(store->maybeChanged());
  dir.write("real.yaml", clusterWith(7));
  EXPECT_TRUE(store->maybeChanged());
  auto change = store->nextChange();
  ASSERT_TRUE(change && std::holds_alternative<ServiceDelta>(*change));
  EXPECT_EQ(std::get<ServiceDelta>(*change).upserts.at(0).endpoints.at(0).ip.toString(),
            "10.244.1.7");
}

}  // namespace
}  // namespace ovl

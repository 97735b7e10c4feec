// The file datastore's reading of the cluster file (datastore/file_datastore.h): bounded as
// ovlctl's, so that `clusterFile: /dev/zero`, a FIFO or a huge file fails at once with one issue.
#include "datastore/file_datastore.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

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

}  // namespace
}  // namespace ovl

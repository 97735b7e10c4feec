// Watches nftables for changes to one table made by anyone but this process, so the agent
// repairs drift (someone deleted an element, flushed a chain, dropped the table) at once
// instead of at the next periodic resync.
//
// The kernel announces every committed transaction on NFNLGRP_NFTABLES: the changed objects,
// then NFT_MSG_NEWGEN carrying the pid of the process that committed it. A transaction that
// touched the table and was not committed by this process is drift.
#pragma once

#include <string>

#include "common/result.h"

struct mnl_socket;

namespace ovl::nat {

class NftMonitor {
 public:
  static Result<NftMonitor> create(std::string table);
  NftMonitor(NftMonitor&&) noexcept;
  NftMonitor& operator=(NftMonitor&&) noexcept;
  NftMonitor(const NftMonitor&) = delete;
  NftMonitor& operator=(const NftMonitor&) = delete;
  ~NftMonitor();

  int fd() const;
  // Reads every pending notification without blocking. True when another process changed the
  // table, or when notifications were lost (ENOBUFS), so the caller must re-read the table.
  Result<bool> drainForeignChanges();

 private:
  NftMonitor(mnl_socket* s, std::string table) : sock_(s), table_(std::move(table)) {}
  mnl_socket* sock_ = nullptr;
  std::string table_;
  bool touched_ = false;  // the transaction being read so far touched table_
};

}  // namespace ovl::nat

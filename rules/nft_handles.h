// One move-only owner per libnftnl / libmnl handle. Each owner frees its handle with the
// library's own destructor; none of them is copyable.
#pragma once

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include <memory>

namespace ovl::nft {

namespace detail {
template <typename T, auto Free>
struct Deleter {
  void operator()(T* p) const noexcept {
    if (p != nullptr) {
      Free(p);
    }
  }
};
}  // namespace detail

// std::unique_ptr is exactly the move-only, single-owner shape wanted here.
template <typename T, auto Free>
using Owner = std::unique_ptr<T, detail::Deleter<T, Free>>;

using TableHandle = Owner<nftnl_table, nftnl_table_free>;
using ChainHandle = Owner<nftnl_chain, nftnl_chain_free>;
using RuleHandle = Owner<nftnl_rule, nftnl_rule_free>;
using ExprHandle = Owner<nftnl_expr, nftnl_expr_free>;
using SetHandle = Owner<nftnl_set, nftnl_set_free>;
using UdataHandle = Owner<nftnl_udata_buf, nftnl_udata_buf_free>;
using MnlSocketHandle = Owner<mnl_socket, mnl_socket_close>;

}  // namespace ovl::nft

// Private to netlink/: what the files of every kernel object kind share to talk to the kernel:
// building a request message, sending one request and waiting for its ack, running a dump (or
// a get) to its end, and handing a reply message to libnl's parsers.
#pragma once

#include "netlink/libnl.h"  // before any other libnl header: see the name clash there

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include <fmt/format.h>

#include "common/result.h"
#include "netlink/nl_handles.h"

namespace ovl::nl::detail {

// How errors name an interface: "#<index>". (Formatted, not `"#" + std::to_string(index)`: GCC
// 12 at -O3 reports a false -Wrestrict in the operator+(const char*, std::string&&) it inlines,
// GCC bugs 105329 and 105651.)
inline std::string devName(int index) {
  return fmt::format("#{}", index);
}

// --- building requests ---------------------------------------------------------------------

// A request of `type` with `flags` whose fixed header (ifinfomsg, rtmsg, ...) is hdr.
Result<MsgPtr> simpleRequest(int type, int flags, const void* hdr, std::size_t hdrLen);

// Appends a u32 attribute to msg; an error in msg passes through.
Result<MsgPtr> putU32(Result<MsgPtr> msg, int attr, uint32_t value);

// Wraps an rtnl_*_build_*_request() call: fn(nl_msg**) -> NLE code.
template <typename F>
Result<MsgPtr> buildWith(F&& fn) {
  nl_msg* raw = nullptr;
  if (int err = fn(&raw); err < 0) {
    return detail::nlError(err, "build netlink message");
  }
  return MsgPtr(raw);
}

// --- running requests ----------------------------------------------------------------------

// Sends one request and waits for its ack.
Status run(nl_sock* sk, Result<MsgPtr> msg, const std::string& what);

// Runs a dump (or get) to its end; reset() is called before every attempt, since a dump the
// kernel flags as interrupted is run again from the start.
Status runDump(nl_sock* sk, const std::string& what, const std::function<Result<MsgPtr>()>& build,
               const std::function<Status(const nlmsghdr*)>& onMsg,
               const std::function<void()>& reset);

// --- parsing replies -----------------------------------------------------------------------

// libnl has no public parser for link and address messages; nl_msg_parse() dispatches a copy
// of the message to the registered cache operations, which hand back the parsed object.
template <typename Obj, typename Out, typename Convert>
Status parseWithCacheOps(const nlmsghdr* h, Out* out, Convert convert) {
  MsgPtr m(nlmsg_convert(const_cast<nlmsghdr*>(h)));
  if (!m) {
    return Error::sys(ENOMEM, "copy netlink message");
  }
  nlmsg_set_proto(m.get(), NETLINK_ROUTE);
  struct Ctx {
    Out* out;
    Convert* convert;
  } ctx{out, &convert};
  int err = nl_msg_parse(
      m.get(),
      [](nl_object* obj, void* arg) {
        auto* c = static_cast<Ctx*>(arg);
        (*c->convert)(reinterpret_cast<Obj*>(obj), c->out);
      },
      &ctx);
  if (err < 0) {
    return detail::nlError(err, "parse netlink message");
  }
  return okStatus();
}

}  // namespace ovl::nl::detail

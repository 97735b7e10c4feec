// Transmit checksum offload of a device, through the SIOCETHTOOL ioctl (what `ethtool -k/-K
// DEV tx` use), and the kernels that have the VXLAN checksum bug.
#pragma once

#include <string>

#include "common/result.h"

namespace ovl::diag {

Result<bool> txChecksum(const std::string& iface);
Status setTxChecksum(const std::string& iface, bool on);

// Kernels before 5.7 (without the backport of "netfilter: nat: never update the UDP checksum
// when it's 0") corrupt the outer UDP checksum of VXLAN packets that are NATed with tx checksum
// offload on the VTEP; flannel and Calico turn offload off on those kernels. Release strings
// such as "5.4.0-150-generic" or "6.1.0-18-amd64". Unparsable: false.
bool kernelHasVxlanChecksumBug(const std::string& release);

}  // namespace ovl::diag

# Where `cmake --install` puts ovl: Debian's places for a network daemon. Included from the top
# CMakeLists.txt before the folders whose install() rules use these directories.
#
# Without a CMAKE_INSTALL_PREFIX from the user the prefix is /usr, so GNUInstallDirs makes /etc
# the sysconfdir (its special case for /usr) and the package and `cmake --install` agree. A tree
# configured before ovl chose /usr still holds CMake's /usr/local in its cache, with nothing
# saying whether the user asked for it; it is moved to /usr once (OVL_INSTALL_LAYOUT marks that
# it was), and any prefix given later is kept.
if(CMAKE_INSTALL_PREFIX_INITIALIZED_TO_DEFAULT
   OR (DEFINED CACHE{CMAKE_CACHE_MAJOR_VERSION}
       AND NOT DEFINED CACHE{OVL_INSTALL_LAYOUT}
       AND CMAKE_INSTALL_PREFIX STREQUAL "/usr/local"))
  set(CMAKE_INSTALL_PREFIX /usr CACHE PATH "Install path prefix (ovl's default: /usr)" FORCE)
endif()
set(OVL_INSTALL_LAYOUT debian CACHE INTERNAL "the install layout of packaging/install_dirs.cmake")

include(GNUInstallDirs)

# CNI plugins: where Debian's containernetworking-plugins puts them and where containerd looks
# (/usr/lib/cni), not the multiarch CMAKE_INSTALL_LIBDIR.
set(OVL_INSTALL_CNIDIR lib/cni)

# systemd units: Debian 12's systemdsystemunitdir is /lib/systemd/system; under another prefix
# the unit goes below that prefix.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(OVL_INSTALL_SYSTEMDUNITDIR /lib/systemd/system)
else()
  set(OVL_INSTALL_SYSTEMDUNITDIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()

# package.cmake - `cmake --install` rules and the Debian packages (CPack).
#
# Two components, two packages: `server` -> package mlreg (the server and
# the CLI, one binary), `node` -> package mlreg-node.  Each installs its
# program, its docs, its systemd unit and its default config file (the
# last two written at install time by install_config.cmake, which knows the
# prefix).  The package is built with CPACK_SET_DESTDIR so that /etc/mlreg
# lands under the staging folder, not on the build machine; its
# dependencies come from dpkg-shlibdeps (dpkg-dev), so they follow the
# libraries the binaries really link.  docs/operations.md, "Install".
include(GNUInstallDirs)

file(STRINGS ${CMAKE_SOURCE_DIR}/util/util.h MLREG_VERSION_LINE REGEX "define MLREG_VERSION_STRING")
string(REGEX REPLACE ".*\"([0-9.]+)\".*" "\\1" MLREG_VERSION "${MLREG_VERSION_LINE}")

install(TARGETS mlreg RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT server)
file(GLOB MLREG_DOCS ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES ${MLREG_DOCS} ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/mlreg
        COMPONENT server)
install(CODE "
  set(MLREG_PKG_SRC \"${CMAKE_SOURCE_DIR}/packaging\")
  set(MLREG_PKG_GEN \"${CMAKE_BINARY_DIR}/packaging\")
  set(MLREG_PKG_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(MLREG_PKG_UNIT mlreg.service)
  set(MLREG_PKG_CONF server.conf)
  include(\"${CMAKE_SOURCE_DIR}/packaging/install_config.cmake\")" COMPONENT server)

if(TARGET mlreg-node)
  install(TARGETS mlreg-node RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT node)
  install(FILES ${CMAKE_SOURCE_DIR}/docs/node.md ${CMAKE_SOURCE_DIR}/docs/operations.md
          DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/mlreg-node COMPONENT node)
  install(CODE "
    set(MLREG_PKG_SRC \"${CMAKE_SOURCE_DIR}/packaging\")
    set(MLREG_PKG_GEN \"${CMAKE_BINARY_DIR}/packaging\")
    set(MLREG_PKG_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
    set(MLREG_PKG_UNIT mlreg-node.service)
    set(MLREG_PKG_CONF node.conf)
    include(\"${CMAKE_SOURCE_DIR}/packaging/install_config.cmake\")" COMPONENT node)
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mlreg)
set(CPACK_PACKAGE_VERSION ${MLREG_VERSION})
set(CPACK_PACKAGE_VENDOR "mlreg")
set(CPACK_PACKAGE_CONTACT "mlreg maintainers <mlreg@localhost>")
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL server node)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# useradd and groupadd for postinst
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_SERVER_PACKAGE_NAME mlreg)
# first line: the summary (no CPACK_PACKAGE_DESCRIPTION_SUMMARY, which
# cpack would put before it)
set(CPACK_DEBIAN_SERVER_DESCRIPTION "model registry server and CLI
The mlreg registry (versions, stages, gates, signatures, lineage, audit
log), its deployment controller, and the mlreg command-line client, with a
systemd unit (mlreg.service) and /etc/mlreg/server.conf.")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA
    "${CMAKE_SOURCE_DIR}/packaging/deb/mlreg/postinst;${CMAKE_SOURCE_DIR}/packaging/deb/mlreg/prerm;${CMAKE_SOURCE_DIR}/packaging/deb/mlreg/postrm;${CMAKE_SOURCE_DIR}/packaging/deb/mlreg/conffiles")
set(CPACK_DEBIAN_NODE_PACKAGE_NAME mlreg-node)
set(CPACK_DEBIAN_NODE_DESCRIPTION "serving node for the mlreg model registry
mlreg-node serves XGBoost model versions from an mlreg registry over the
Open Inference Protocol, with in-node traffic splitting, a systemd unit
(mlreg-node.service) and /etc/mlreg/node.conf.")
set(CPACK_DEBIAN_NODE_PACKAGE_CONTROL_EXTRA
    "${CMAKE_SOURCE_DIR}/packaging/deb/mlreg-node/postinst;${CMAKE_SOURCE_DIR}/packaging/deb/mlreg-node/prerm;${CMAKE_SOURCE_DIR}/packaging/deb/mlreg-node/postrm;${CMAKE_SOURCE_DIR}/packaging/deb/mlreg-node/conffiles")
include(CPack)

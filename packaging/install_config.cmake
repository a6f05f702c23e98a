# install_config.cmake - run by `cmake --install` (and by cpack) for one
# component: writes its systemd unit and its default config file with the
# paths of this install.  Done at install time, not at configure time,
# because the prefix is known only then (cpack installs with /usr, a plain
# `cmake --install` with whatever --prefix says).
#
# In: MLREG_PKG_SRC (packaging/), MLREG_PKG_GEN (a build folder),
# MLREG_PKG_UNIT (mlreg.service), MLREG_PKG_CONF (server.conf),
# MLREG_PKG_BINDIR (bin, relative).
#
# Paths: the config folder is /etc/mlreg when the prefix is /usr (the
# package), PREFIX/etc/mlreg otherwise.  An existing config file is never
# overwritten by `cmake --install` (an operator's edits survive a
# reinstall); in the package the files are conffiles and dpkg asks.
set(prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr" OR prefix STREQUAL "/")
  set(MLREG_SYSCONFDIR "/etc")
else()
  set(MLREG_SYSCONFDIR "${prefix}/etc")
endif()
if(prefix STREQUAL "/")
  set(prefix "/usr")
endif()
set(MLREG_BINDIR "${prefix}/${MLREG_PKG_BINDIR}")
set(MLREG_DOCDIR "${prefix}/share/doc/mlreg")
set(MLREG_NODE_DOCDIR "${prefix}/share/doc/mlreg-node")

configure_file("${MLREG_PKG_SRC}/${MLREG_PKG_UNIT}.in" "${MLREG_PKG_GEN}/${MLREG_PKG_UNIT}" @ONLY)
file(INSTALL "${MLREG_PKG_GEN}/${MLREG_PKG_UNIT}" DESTINATION "${prefix}/lib/systemd/system"
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

if(EXISTS "$ENV{DESTDIR}${MLREG_SYSCONFDIR}/mlreg/${MLREG_PKG_CONF}")
  message(STATUS "Keeping existing: $ENV{DESTDIR}${MLREG_SYSCONFDIR}/mlreg/${MLREG_PKG_CONF}")
else()
  configure_file("${MLREG_PKG_SRC}/${MLREG_PKG_CONF}.in" "${MLREG_PKG_GEN}/${MLREG_PKG_CONF}" @ONLY)
  file(INSTALL "${MLREG_PKG_GEN}/${MLREG_PKG_CONF}" DESTINATION "${MLREG_SYSCONFDIR}/mlreg"
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endif()

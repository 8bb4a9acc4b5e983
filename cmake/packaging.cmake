# Debian package `ovop` (cpack -G DEB, or `deploy/ovop package`): the daemons and ovopctl in
# /usr/bin, ovop-setup in /usr/sbin, the systemd units, the system users (sysusers.d), the
# settings /etc/ovop/ovop.env as a conffile and the README. Nothing is started on install:
# keys and the database come first (README, "Packages").

set(ovop_pkg_bins ovop-broker ovop-registryd ovop-exportd ovop-matchd ovop-notifyd ovopctl)
install(TARGETS ${ovop_pkg_bins} RUNTIME DESTINATION bin COMPONENT ovop)
# ovop-webd, the public verification pages (libqrencode: a shlibdeps dependency).
install(TARGETS ovop-webd RUNTIME DESTINATION bin COMPONENT ovop)
install(PROGRAMS ${PROJECT_SOURCE_DIR}/deploy/docker/ovop-setup.sh DESTINATION sbin
        RENAME ovop-setup COMPONENT ovop)

# The units in deploy/systemd name /usr/local/bin (the README's manual install); the package's
# copies name where the package puts the binaries. Generated at configure time, re-run when a
# unit changes.
set(ovop_units_src ${PROJECT_SOURCE_DIR}/deploy/systemd)
set(ovop_units_out ${CMAKE_BINARY_DIR}/packaging/systemd)
file(GLOB ovop_units CONFIGURE_DEPENDS ${ovop_units_src}/*.service ${ovop_units_src}/*.target)
foreach(unit IN LISTS ovop_units)
  get_filename_component(name ${unit} NAME)
  file(READ ${unit} text)
  string(REPLACE "/usr/local/bin/ovop-setup" "/usr/sbin/ovop-setup" text "${text}")
  string(REPLACE "/usr/local/bin" "/usr/bin" text "${text}")
  string(REPLACE "/usr/local/share/doc/" "/usr/share/doc/" text "${text}")
  file(WRITE ${ovop_units_out}/${name} "${text}")
  install(FILES ${ovop_units_out}/${name} DESTINATION /lib/systemd/system COMPONENT ovop)
endforeach()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${ovop_units})

install(FILES ${ovop_units_src}/ovop.sysusers.conf DESTINATION /usr/lib/sysusers.d
        RENAME ovop.conf COMPONENT ovop)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/ovop.env.example DESTINATION /etc/ovop
        RENAME ovop.env COMPONENT ovop)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION share/doc/ovop COMPONENT ovop)
# bash completion for ovopctl (it reads `ovopctl --help` at run time, so it cannot drift).
install(FILES ${PROJECT_SOURCE_DIR}/deploy/completion/ovopctl.bash
        DESTINATION share/bash-completion/completions RENAME ovopctl COMPONENT ovop)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ovop)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "OVOP operations <ops@ovop.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "OVOP service bus: broker, registry, exports, matching and notification daemons")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The libraries' packages from dpkg-shlibdeps (libzmq5, libpq5, libuv1, ...), plus psql for
# ovop-setup and systemd-sysusers or adduser for the users postinst creates.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "postgresql-client, systemd | adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

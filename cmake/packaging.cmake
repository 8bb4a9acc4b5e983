# Debian package `ovop` (cpack -G DEB, or `deploy/ovop package`): the daemons and ovopctl in
# /usr/bin, ovop-setup in /usr/sbin, the systemd units, the system users (sysusers.d), the
# settings /etc/ovop/ovop.env as a conffile and the README. Nothing is started on install:
# keys and the database come first (README, "Packages").

set(ovop_pkg_bins ovop-broker ovop-registryd ovop-exportd ovop-matchd ovop-notifyd ovopctl)
list(APPEND ovop_pkg_bins ovop-programd) # its unit: deploy/systemd, globbed
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
  string(REPLACE "/usr/local/sbin/" "/usr/sbin/" text "${text}")
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

# ovop-backup (base backups, WAL archiving, point-in-time restore, dumps) in /usr/sbin, and
# the timer of ovop-backup.service (the loop above installs the .service).
install(PROGRAMS ${PROJECT_SOURCE_DIR}/deploy/ovop-backup DESTINATION sbin COMPONENT ovop)
install(FILES ${ovop_units_src}/ovop-backup.timer DESTINATION /lib/systemd/system COMPONENT ovop)

# Manual pages of every binary, made by help2man from its --help and --version (so they say
# what the binary does and cannot drift from it), gzipped as Debian ships them.
find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(ovop_man_dir ${CMAKE_BINARY_DIR}/man)
  set(ovop_man_pages)
  set(name_ovop-broker "service bus of the OVOP backend (MDP/0.2 broker, CURVE)")
  set(name_ovop-registryd "registry daemon of the OVOP backend (ovop.registry)")
  set(name_ovop-exportd "export shipments daemon of the OVOP backend (ovop.exports)")
  set(name_ovop-matchd "export order matching daemon of the OVOP backend (ovop.matching)")
  set(name_ovop-notifyd "agencies' notification daemon of the OVOP backend (ovop.notify)")
  set(name_ovop-programd "support programme and sales daemon of the OVOP backend")
  set(name_ovopctl "operators' client of the OVOP backend")
  foreach(bin IN LISTS ovop_pkg_bins)
    if(NOT DEFINED name_${bin})
      message(FATAL_ERROR "packaging.cmake: no manual page name for ${bin} (name_${bin})")
    endif()
    add_custom_command(
      OUTPUT ${ovop_man_dir}/${bin}.1.gz
      COMMAND ${CMAKE_COMMAND} -E make_directory ${ovop_man_dir}
      COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section=1 "--name=${name_${bin}}"
              --output=${ovop_man_dir}/${bin}.1 $<TARGET_FILE:${bin}>
      COMMAND gzip -9nf ${ovop_man_dir}/${bin}.1
      DEPENDS ${bin}
      COMMENT "man page of ${bin}"
      VERBATIM)
    list(APPEND ovop_man_pages ${ovop_man_dir}/${bin}.1.gz)
  endforeach()
  add_custom_target(ovop-man ALL DEPENDS ${ovop_man_pages})
  install(FILES ${ovop_man_pages} DESTINATION share/man/man1 COMPONENT ovop)
else()
  message(WARNING "help2man not found: the package will have no manual pages")
endif()

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

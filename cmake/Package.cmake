# Package.cmake - install layout of the Debian package and CPack's DEB
# generator: `cmake --build build --target package` writes
# build/agentmeter_VERSION_ARCH.deb (docs/guides/packaging.md).
#
#   /usr/bin/agentmeter, /usr/bin/agentmeter-loadgen      stripped
#   /lib/systemd/system/agentmeter.service                deploy/systemd's unit, for /usr/bin
#                                                         and the static agentmeter user
#   /etc/agentmeter/agentmeter.yaml                       conffile (deploy/agentmeter.yaml)
#   /usr/share/agentmeter/pricing.yaml                    the list prices compiled in
#   /usr/share/agentmeter/deploy/                         the operator's kit: every directory
#                                                         of deploy/ (prometheus, grafana, ...)
#   /usr/share/doc/agentmeter/                            copyright, changelog, guides
#   /usr/share/man/man1/                                  agentmeter.1, agentmeter-loadgen.1
# Maintainer scripts (cmake/debian/): the system user and group agentmeter,
# /var/lib/agentmeter/{state,wal} (0750), the unit enabled and started on
# install, stopped on removal; purge removes /var/lib/agentmeter.

set(AM_PKG_DIR ${CMAKE_CURRENT_BINARY_DIR}/package)
set(AM_DEB ${CMAKE_CURRENT_SOURCE_DIR}/cmake/debian)

# The unit as packaged: the binary in /usr/bin, a static user made by the
# postinst instead of DynamicUser (so the queue and state files keep one
# owner across upgrades and are readable by an operator in the group).
file(READ ${CMAKE_CURRENT_SOURCE_DIR}/deploy/systemd/agentmeter.service AM_UNIT)
string(REGEX REPLACE "^(#[^\n]*\n)+" "" AM_UNIT "${AM_UNIT}")
string(REPLACE "/usr/local/bin/agentmeter" "/usr/bin/agentmeter" AM_UNIT "${AM_UNIT}")
string(REPLACE "DynamicUser=yes\n" "User=agentmeter\nGroup=agentmeter\n" AM_UNIT "${AM_UNIT}")
file(WRITE ${AM_PKG_DIR}/agentmeter.service
    "# agentmeter as packaged (deploy/systemd/agentmeter.service, for /usr/bin and\n"
    "# the system user agentmeter that the package creates).\n${AM_UNIT}")

# changelog.gz (a native package: the Debian changelog of this tree): gzip -9n (no name or time stamp in the gzip header);
# the date honours SOURCE_DATE_EPOCH.
string(TIMESTAMP AM_PKG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
file(WRITE ${AM_PKG_DIR}/changelog
    "agentmeter (${PROJECT_VERSION}) unstable; urgency=medium\n\n"
    "  * Package built from the agentmeter source tree (CPack).\n\n"
    " -- agentmeter maintainers <maintainers@agentmeter.dev>  ${AM_PKG_DATE}\n")
execute_process(COMMAND gzip -9nf ${AM_PKG_DIR}/changelog)
foreach(page agentmeter.1 agentmeter-loadgen.1)
    configure_file(${CMAKE_CURRENT_SOURCE_DIR}/docs/man/${page} ${AM_PKG_DIR}/${page} @ONLY)
    execute_process(COMMAND gzip -9nf ${AM_PKG_DIR}/${page})
endforeach()

install(FILES ${AM_PKG_DIR}/agentmeter.service DESTINATION /lib/systemd/system
    PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES deploy/agentmeter.yaml DESTINATION /etc/agentmeter
    PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES deploy/pricing.yaml DESTINATION share/agentmeter
    PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
# Every directory of deploy/ (rules, alerts, dashboards, manifests, scale-out,
# rule presets, ...): a directory added there is packaged without a change here.
file(GLOB AM_DEPLOY_ALL LIST_DIRECTORIES true CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/deploy/*)
set(AM_DEPLOY_DIRS)
foreach(p ${AM_DEPLOY_ALL})
    if(IS_DIRECTORY ${p})
        list(APPEND AM_DEPLOY_DIRS ${p})
    endif()
endforeach()
install(DIRECTORY ${AM_DEPLOY_DIRS} DESTINATION share/agentmeter/deploy
    FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
    DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                          WORLD_READ WORLD_EXECUTE)
install(FILES ${AM_DEB}/copyright ${AM_PKG_DIR}/changelog.gz README.md
    docs/guides/remote-write.md docs/guides/scale-out.md docs/guides/sending-spans.md
    docs/guides/buckets-and-prices.md docs/guides/packaging.md
    DESTINATION share/doc/agentmeter
    PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${AM_PKG_DIR}/agentmeter.1.gz ${AM_PKG_DIR}/agentmeter-loadgen.1.gz
    DESTINATION share/man/man1 PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# The compilers' .comment section (tool versions) has no use at run time
# (lintian: binary-has-unneeded-section); CPack strips the symbols after this.
install(CODE "foreach(b agentmeter agentmeter-loadgen)
    execute_process(COMMAND ${CMAKE_OBJCOPY} --remove-section=.comment
        \$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/bin/\${b})
endforeach()")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME agentmeter)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_CONTACT "agentmeter maintainers <maintainers@agentmeter.dev>")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE https://github.com/agentmeter/agentmeter)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
string(CONCAT CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "OpenTelemetry trace-to-metrics collector for AI agents\n"
    "agentmeter receives OpenTelemetry traces over OTLP (HTTP and gRPC) from\n"
    "instrumented AI agents, derives agent metrics from the GenAI span\n"
    "attributes (requests, inference time, tool outcomes, tokens and cost,\n"
    "evaluation scores, conversation turns, escalations), serves them on a\n"
    "Prometheus /metrics endpoint and pushes them with Prometheus remote_write\n"
    "to Prometheus, Thanos, Cortex, Mimir or VictoriaMetrics.\n"
    ".\n"
    "The package runs it as a hardened systemd service and ships the\n"
    "operator's kit (recording rules, alerts, Grafana dashboard, Kubernetes\n"
    "manifests, scale-out configs) under /usr/share/agentmeter/deploy.")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${AM_DEB}/postinst;${AM_DEB}/prerm;${AM_DEB}/postrm;${AM_DEB}/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

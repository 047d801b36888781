# What `cmake --install` puts under the prefix (GNUInstallDirs):
#   bin/thaw                          the CLI
#   lib/libthaw.so                    thaw::Engine for embedders (find_package(thaw) -> thaw::thaw, or thaw.pc)
#   include/thaw/                     its public headers (no third-party types)
#   libexec/thaw/thaw-agent           the guest agent (PID 1 of every microVM)
#   libexec/thaw/thaw-vmm             the VMM process (one per sandbox)
#   libexec/thaw/kvmhost/             the emulated KVM host tool, for machines without /dev/kvm
#   share/thaw/runtimes/              the bundled runtimes (python3.11)
#   share/thaw/examples/              the example functions
#   lib/cmake/thaw/, lib/pkgconfig/   the package files
# The engine finds its guest files relative to the installed prefix (engine/guest_paths.h).
include(CMakePackageConfigHelpers)

# One shared library holding the engine and every room below it; nothing but the public
# headers is needed to use it.
file(CONFIGURE OUTPUT ${PROJECT_BINARY_DIR}/libthaw.cpp
     CONTENT "// libthaw.so: all of its code comes from thaw_engine (whole archive).\n")
add_library(thaw SHARED ${PROJECT_BINARY_DIR}/libthaw.cpp)
target_link_libraries(thaw PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,thaw_engine>")
target_include_directories(thaw PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
                                       $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_features(thaw PUBLIC cxx_std_20)
set_target_properties(thaw PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
                                      LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib)
add_library(thaw::thaw ALIAS thaw)

install(TARGETS thaw EXPORT thawTargets LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/thaw DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS thaw_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS thaw-agent thaw-vmm RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/thaw)
install(PROGRAMS ${PROJECT_SOURCE_DIR}/tools/kvmhost/kvmhost ${PROJECT_SOURCE_DIR}/tools/kvmhost/init
        DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/thaw/kvmhost)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/guest/runtimes/ DESTINATION ${CMAKE_INSTALL_DATADIR}/thaw/runtimes
        USE_SOURCE_PERMISSIONS PATTERN "__pycache__" EXCLUDE)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/functions/ DESTINATION ${CMAKE_INSTALL_DATADIR}/thaw/examples
        USE_SOURCE_PERMISSIONS PATTERN "__pycache__" EXCLUDE)

install(EXPORT thawTargets NAMESPACE thaw:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/thaw)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/thawConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/thawConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/thaw)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/thawConfigVersion.cmake COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/thawConfig.cmake ${PROJECT_BINARY_DIR}/thawConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/thaw)
file(RELATIVE_PATH THAW_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
configure_file(${PROJECT_SOURCE_DIR}/cmake/thaw.pc.in ${PROJECT_BINARY_DIR}/thaw.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/thaw.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

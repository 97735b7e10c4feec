# Run by `cmake --install` after the programs are installed (install(SCRIPT) in
# packaging/CMakeLists.txt, which sets ovl_strip and ovl_programs): in a stripped install, also
# removes the sections a stripped program does not need, as Debian's dh_strip does.
if(CMAKE_INSTALL_DO_STRIP)
  foreach(program IN LISTS ovl_programs)
    execute_process(
      COMMAND "${ovl_strip}" --remove-section=.comment --remove-section=.note
              "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/${program}" COMMAND_ERROR_IS_FATAL ANY)
  endforeach()
endif()

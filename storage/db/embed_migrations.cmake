# Turns storage/migrations/NNNN_name.sql into a C++ table compiled into the
# binary, so that `callvault db migrate` needs no files beside the executable.
# Usage: cmake -DMIGRATIONS_DIR=... -DOUTPUT=... -P embed_migrations.cmake
file(GLOB files "${MIGRATIONS_DIR}/[0-9][0-9][0-9][0-9]_*.sql")
list(SORT files)
set(body "")
foreach(f ${files})
  get_filename_component(name "${f}" NAME_WE)
  string(SUBSTRING "${name}" 0 4 version)
  math(EXPR version "${version}")  # drops leading zeros
  file(READ "${f}" sql)
  string(FIND "${sql}" ")cvsql\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${f} contains the raw-string delimiter )cvsql\"")
  endif()
  string(APPEND body "  {${version}, \"${name}\", R\"cvsql(${sql})cvsql\"},\n")
endforeach()
file(WRITE "${OUTPUT}.new" "// Generated from storage/migrations by embed_migrations.cmake. Do not edit.
#include \"storage/db/migrations.h\"

namespace cv {
namespace {
const Migration kMigrations[] = {
${body}};
}  // namespace

std::span<const Migration> shipped_migrations() { return kMigrations; }

}  // namespace cv
")
# Only touch the output when it changed, so that builds stay incremental.
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUTPUT}.new" "${OUTPUT}")
file(REMOVE "${OUTPUT}.new")

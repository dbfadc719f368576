// Fixture for check_includes.sh: text and formats are siblings over core.
#include "bridge/formats/atomic_file.h" // wrong: text may include only core and text
#include <string>

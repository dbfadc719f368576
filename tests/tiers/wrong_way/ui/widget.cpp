// Fixture for check_includes.sh: the UI may use the bridge, not the command line.
#include "bridge/model/model.h" // allowed
#include "app/cli/commands.h"   // wrong

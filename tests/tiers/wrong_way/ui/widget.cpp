// Fixture for check_includes.sh: the UI may use the bridge, not the command line,
// and does no tensor maths of its own.
#include "bridge/model/model.h" // allowed
#include "app/cli/commands.h"   // wrong
#include <ATen/ATen.h>          // wrong: tensor maths belong in bridge/analysis

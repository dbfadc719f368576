#pragma once
// Fixture for check_includes.sh: two wrong-way includes from the lowest tier.
#include "bridge/core/errors.h" // allowed: its own tier
#include "bridge/model/model.h" // wrong: core may not include the model
#include <ATen/ATen.h>          // wrong: core is built without LibTorch

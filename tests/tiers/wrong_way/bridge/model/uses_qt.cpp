// Fixture for check_includes.sh: the bridge never includes Qt.
#include "bridge/text/tokenizer.h" // allowed: a lower tier
#include <QString>                 // wrong

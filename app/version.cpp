#include "app/version.h"

#include "bridge/threads.h"

#include <QtGlobal>

namespace hookscope {

std::string version_report() {
    std::string report = std::string("hookscope ") + HOOKSCOPE_VERSION + " (git " + git_revision() + ")\n";
    report += "LibTorch " + libtorch_version() + "\n";
    report += std::string("Qt ") + qVersion() + " (built with " + QT_VERSION_STR + ")\n";
    report += "BLAS " + blas_in_use() + "\n";
    return report;
}

} // namespace hookscope

#include "app/cli/version.h"

#include "bridge/model/kernels/kernels.h"
#include "bridge/model/threads.h"

#include <QtGlobal>

namespace hookscope {

std::string version_report() {
    std::string report = std::string("hookscope ") + HOOKSCOPE_VERSION + " (git " + git_revision() + ")\n";
    report += "LibTorch " + libtorch_version() + "\n";
    report += std::string("Qt ") + qVersion() + " (built with " + QT_VERSION_STR + ")\n";
    report += "BLAS " + blas_in_use() + "\n";
    report += std::string("CPU kernels ") + kernels::level_name(kernels::level()) +
              " (this CPU: " + kernels::level_name(kernels::cpu_level()) + "; HOOKSCOPE_KERNELS caps it)\n";
    return report;
}

} // namespace hookscope

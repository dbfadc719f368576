#pragma once
// The message of the hookscope::Error `f` throws, or an empty string when it throws none.

#include "bridge/core/errors.h"

#include <QString>

#include <functional>

namespace hookscope::test {

inline QString error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return QString::fromUtf8(e.what());
    }
    return {};
}

} // namespace hookscope::test

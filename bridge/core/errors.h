#pragma once
// Exceptions thrown by the bridge. Messages say what, where and why; the UI and
// the command line show them as they are.

#include <stdexcept>
#include <string>

namespace hookscope {

// Base of every error the bridge reports about its input or a run.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A checkpoint, config or safetensors file that cannot be read as promised.
class CheckpointError : public Error {
public:
    using Error::Error;
};

// A names filter item that does not parse (e.g. an unclosed `/regex`).
class FilterError : public Error {
public:
    using Error::Error;
};

// A hook point asked for that the cache did not capture.
class NotCapturedError : public Error {
public:
    using Error::Error;
};

// Input to a run that the model cannot take (token out of range, too long, ...).
class InputError : public Error {
public:
    using Error::Error;
};

// An intervention SPEC that does not parse, or that does not fit the model or the run.
class InterventionError : public Error {
public:
    using Error::Error;
};

// Writing an export failed; the destination was left as it was.
class ExportError : public Error {
public:
    using Error::Error;
};

// A session file that cannot be opened: what is wrong, and where.
class SessionError : public Error {
public:
    using Error::Error;
};

} // namespace hookscope

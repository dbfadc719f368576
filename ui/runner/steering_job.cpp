#include "ui/runner/steering_job.h"

#include "bridge/analysis/steering.h"
#include "bridge/io/steering_file.h"
#include "bridge/model/activation_cache.h"

#include <exception>

namespace hookscope::ui {

std::string write_steering_vector(const SteeringJob& job) {
    try {
        if (!job.run) return "there is no run in view to read the vector from";
        SteeringOrigin origin;
        origin.hook = job.hook.name;
        origin.head = job.head;
        origin.position = job.position;
        at::Tensor vector;
        if (job.pinned) {
            vector = steering_vector(job.hook, job.head, job.position, *job.pinned, job.run.get(),
                                     {"the pinned run", "this run"});
            origin.source = "pinned - this";
            origin.toward = job.pinned->tokens();
            origin.away = job.run->tokens();
        } else {
            vector = steering_vector(job.hook, job.head, job.position, *job.run, nullptr, {"this run", ""});
            origin.source = "this";
            origin.toward = job.run->tokens();
        }
        write_steering_file(job.path, vector, origin);
        return {};
    } catch (const std::exception& e) {
        return e.what();
    }
}

} // namespace hookscope::ui

// heimdallr entry point. Signals are set up before any thread exists: SIGPIPE is ignored (a peer
// that vanishes must not kill us) and the termination signals are blocked in every thread so
// that only waitForTerminationRequest() receives them.
#include <csignal>

#include "server/HeimdallrApp.h"

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t termination;
  sigemptyset(&termination);
  sigaddset(&termination, SIGINT);
  sigaddset(&termination, SIGTERM);
  sigaddset(&termination, SIGQUIT);
  sigaddset(&termination, SIGHUP);  // key reload, taken by sigwait() in HeimdallrApp
  pthread_sigmask(SIG_BLOCK, &termination, nullptr);

  heimdallr::server::HeimdallrApp app;
  return app.run(argc, argv);
}

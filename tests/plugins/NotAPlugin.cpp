// A shared object that is not a heimdallr bus plugin (no version symbol, no manifest).
extern "C" int heimdallrSomethingElse() { return 1; }

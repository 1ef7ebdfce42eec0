// SwiftPM builds a C target only when it has a source file. Compiling the umbrella header
// here also checks, in plain C, the include order its quirk comment requires.
#include "CLinuxNet.h"

/* main.c: the causeway program: dispatch to subcommands (one file per subcommand). */
#include "causeway.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        printf("causeway %s\n", CW_VERSION);
        return argc < 2 ? 2 : 0;
    }
    return 2;
}

/* cmd_evaluate.h: `causeway evaluate RUN_DIR [options]` (models/evaluate.h). */
#ifndef CW_CLI_CMD_EVALUATE_H
#define CW_CLI_CMD_EVALUATE_H

int cmd_evaluate(int argc, char **argv);

#endif

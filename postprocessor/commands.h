/* commands.h - the verbs of the `flopmeter` command; each takes the arguments after its name
 * (argv[0] is the verb) and returns the process exit status. */
#ifndef FM_COMMANDS_H
#define FM_COMMANDS_H

int cmd_dump(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_estimate(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_run(int argc, char **argv);

#endif

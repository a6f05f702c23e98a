/*
 * deploy_common.h - what the controller's commands share (cmd_node.c,
 * cmd_deploy.c, cmd_deploy_status.c, cmd_rollout.c): node and deployment
 * names, KEY=VALUE label lists, and the human rendering of a deployment's
 * status (docs/cli.md "deploy status").
 */
#ifndef MLREG_CLI_DEPLOY_COMMON_H
#define MLREG_CLI_DEPLOY_COMMON_H

#include <stdio.h>
#include <cjson/cJSON.h>
#include "cli/cli.h"

/* A usage error naming `what` unless name follows util_resource_name_valid. */
int cli_resource_name_check(const char *cmd, const char *what, const char *name);
/* Add "k=v[,k=v]" to the object labels: keys util_label_name_valid, values
 * util_label_value_valid, each key once; usage errors name `opt`. */
int cli_label_pairs_add(const char *cmd, const char *opt, const char *s, cJSON *labels);
/* "k=v,k2=v2" of a labels object into out ("" when empty). */
void cli_labels_join(const cJSON *labels, char *out, size_t outsz);
/* "/api/v1/deployments/<name><suffix>" into path (name checked first). */
int cli_deployment_path(const char *cmd, const char *name, const char *suffix, util_buf *path);
/* The status object as a compact block of text. */
void cli_deploy_print_status(const cJSON *st, FILE *out);

#endif

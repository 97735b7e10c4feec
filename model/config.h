// The public parsers of the cluster model, for code that wants all of them: agent.yaml
// (model/agent_config.h), the cluster file (model/cluster_file.h), the cluster stored as
// separate documents (model/cluster_documents.h), and the issues they report
// (model/config_issue.h).
#pragma once

#include "model/agent_config.h"
#include "model/cluster_documents.h"
#include "model/cluster_file.h"
#include "model/config_issue.h"

// ovlctl's output: a list of records as an aligned table, JSON or YAML (-o table|json|yaml).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ovl::cli {

void addOutputOption(CLI::App& cmd, std::string& format);

struct Column {
  std::string header;
  std::function<std::string(const nlohmann::ordered_json&)> cell;  // from one record
};
// records: a JSON array of objects. The table shows `columns`; JSON and YAML show every field.
void printRecords(const nlohmann::ordered_json& records, const std::vector<Column>& columns,
                  const std::string& format);
// One document (an object) as JSON or YAML (format "json" or "yaml").
void printDocument(const nlohmann::ordered_json& document, const std::string& format);

}  // namespace ovl::cli

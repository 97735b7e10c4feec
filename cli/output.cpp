#include "cli/output.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>

namespace ovl::cli {

namespace {

void emit(YAML::Emitter& out, const nlohmann::ordered_json& j) {
  if (j.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [k, v] : j.items()) {
      out << YAML::Key << k << YAML::Value;
      emit(out, v);
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& v : j) {
      emit(out, v);
    }
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    out << j.get<std::string>();
  } else if (j.is_null()) {
    out << YAML::Null;
  } else {
    out << j.dump();  // numbers and booleans read the same in YAML
  }
}

}  // namespace

void addOutputOption(CLI::App& cmd, std::string& format) {
  cmd.add_option("-o,--output", format, "table, json or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}))
      ->default_val("table");
}

void printDocument(const nlohmann::ordered_json& document, const std::string& format) {
  if (format == "json") {
    std::printf("%s\n", document.dump(2).c_str());
    return;
  }
  YAML::Emitter out;
  emit(out, document);
  std::printf("%s\n", out.c_str());
}

void printRecords(const nlohmann::ordered_json& records, const std::vector<Column>& columns,
                  const std::string& format) {
  if (format == "json") {
    std::printf("%s\n", records.dump(2).c_str());
    return;
  }
  if (format == "yaml") {
    YAML::Emitter out;
    emit(out, records);
    std::printf("%s\n", out.c_str());
    return;
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<size_t> width;
  for (const auto& c : columns) {
    width.push_back(c.header.size());
  }
  for (const auto& r : records) {
    std::vector<std::string> row;
    for (size_t i = 0; i < columns.size(); ++i) {
      row.push_back(columns[i].cell(r));
      width[i] = std::max(width[i], row.back().size());
    }
    rows.push_back(std::move(row));
  }
  auto print = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      line += cells[i];
      if (i + 1 < cells.size()) {
        line += std::string(width[i] - cells[i].size() + 2, ' ');
      }
    }
    std::printf("%s\n", line.c_str());
  };
  std::vector<std::string> headers;
  for (const auto& c : columns) {
    headers.push_back(c.header);
  }
  print(headers);
  for (const auto& row : rows) {
    print(row);
  }
}

}  // namespace ovl::cli

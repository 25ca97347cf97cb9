// What `kiln train` leaves in its output directory besides the parameters: metrics.csv, a plot of
// loss and accuracy per epoch (SVG, which any browser shows) and the test confusion matrix (CSV,
// and as text on stdout). Every file is written atomically, so a file present is a complete one.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "kiln/classification.hpp"

namespace kiln_tool {

struct EpochRecord {
  kiln::classification::EpochStats train;
  double test_loss = 0;
  double test_accuracy = 0;
};

// "epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds,examples_per_second\n" + rows.
std::string metrics_csv(const std::vector<EpochRecord>& epochs);

// Two panels (loss, accuracy) over epochs, train and test series each, as a standalone SVG.
std::string training_plot_svg(const std::vector<EpochRecord>& epochs, const std::string& title);

// Rows are true classes, columns predicted: a header row of class names, then one row per class.
std::string confusion_csv(const kiln::classification::Evaluation& e,
                          const std::vector<std::string>& class_names);
// The same as aligned text, with per-class accuracy in a last column.
std::string confusion_text(const kiln::classification::Evaluation& e,
                           const std::vector<std::string>& class_names);

// Writes `text` to `path` atomically (temporary file, fsync, rename).
void write_text(const std::filesystem::path& path, const std::string& text);

}  // namespace kiln_tool

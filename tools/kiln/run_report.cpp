// metrics.csv, the SVG training plot and the confusion matrix of `kiln train`.
//
// The plot is written by hand: it is two line charts of at most a few hundred points, and Debian
// has no C++ plotting library made for this that would not pull in a toolkit (gnuplot is a program,
// not a library; plotutils writes SVG without text layout), so ~100 lines of SVG beat a dependency.
#include "run_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "kiln/serialization.hpp"

namespace kiln_tool {

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string escape_xml(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

struct Series {
  std::string label;
  std::string color;
  std::vector<double> values;
};

// One chart in the box (x0, y0, w, h): axes, ticks, a polyline per series, a legend — in the top
// right corner for falling curves (loss), the bottom right for rising ones (accuracy), where the
// lines are not.
std::string chart(double x0, double y0, double w, double h, const std::string& title,
                  const std::vector<Series>& series, size_t epochs, bool percent) {
  const bool legend_at_bottom = percent;
  double lo = INFINITY, hi = -INFINITY;
  for (const Series& s : series) {
    for (double v : s.values) {
      if (!std::isfinite(v)) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-9) lo -= 0.5, hi += 0.5;
  const double pad = (hi - lo) * 0.08;
  lo -= pad;
  hi += pad;
  const double left = x0 + 56, right = x0 + w - 12, top = y0 + 28, bottom = y0 + h - 36;
  auto px = [&](size_t i) {
    return epochs <= 1
               ? (left + right) / 2
               : left + (right - left) * static_cast<double>(i) / static_cast<double>(epochs - 1);
  };
  auto py = [&](double v) { return bottom - (bottom - top) * (v - lo) / (hi - lo); };

  std::string out;
  out += "<text x=\"" + fmt("%.1f", (left + right) / 2) + "\" y=\"" + fmt("%.1f", y0 + 18) +
         "\" text-anchor=\"middle\" font-weight=\"bold\">" + escape_xml(title) + "</text>\n";
  out += "<rect x=\"" + fmt("%.1f", left) + "\" y=\"" + fmt("%.1f", top) + "\" width=\"" +
         fmt("%.1f", right - left) + "\" height=\"" + fmt("%.1f", bottom - top) +
         "\" fill=\"none\" stroke=\"#888\"/>\n";
  for (int t = 0; t <= 4; ++t) {  // y ticks and grid
    const double v = lo + (hi - lo) * t / 4.0;
    const double y = py(v);
    out += "<line x1=\"" + fmt("%.1f", left) + "\" y1=\"" + fmt("%.1f", y) + "\" x2=\"" +
           fmt("%.1f", right) + "\" y2=\"" + fmt("%.1f", y) + "\" stroke=\"#eee\"/>\n";
    out += "<text x=\"" + fmt("%.1f", left - 6) + "\" y=\"" + fmt("%.1f", y + 4) +
           "\" text-anchor=\"end\">" + (percent ? fmt("%.1f%%", v * 100) : fmt("%.3f", v)) +
           "</text>\n";
  }
  const size_t step = std::max<size_t>(1, (epochs + 9) / 10);
  for (size_t i = 0; i < epochs; i += step) {  // x ticks: epochs 1..n
    out += "<text x=\"" + fmt("%.1f", px(i)) + "\" y=\"" + fmt("%.1f", bottom + 16) +
           "\" text-anchor=\"middle\">" + std::to_string(i + 1) + "</text>\n";
  }
  out += "<text x=\"" + fmt("%.1f", (left + right) / 2) + "\" y=\"" + fmt("%.1f", bottom + 32) +
         "\" text-anchor=\"middle\">epoch</text>\n";
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    std::string points;
    for (size_t i = 0; i < s.values.size(); ++i) {
      if (!std::isfinite(s.values[i])) continue;
      points += fmt("%.1f", px(i)) + "," + fmt("%.1f", py(s.values[i])) + " ";
      out += "<circle cx=\"" + fmt("%.1f", px(i)) + "\" cy=\"" + fmt("%.1f", py(s.values[i])) +
             "\" r=\"2.5\" fill=\"" + s.color + "\"/>\n";
    }
    out += "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" + s.color + "\" points=\"" +
           points + "\"/>\n";
    const double ly = legend_at_bottom
                          ? bottom - 10 - 16 * static_cast<double>(series.size() - 1 - k)
                          : top + 14 + 16 * static_cast<double>(k);
    out += "<line x1=\"" + fmt("%.1f", right - 110) + "\" y1=\"" + fmt("%.1f", ly - 4) +
           "\" x2=\"" + fmt("%.1f", right - 90) + "\" y2=\"" + fmt("%.1f", ly - 4) +
           "\" stroke-width=\"2\" stroke=\"" + s.color + "\"/>\n";
    out += "<text x=\"" + fmt("%.1f", right - 84) + "\" y=\"" + fmt("%.1f", ly) + "\">" +
           escape_xml(s.label) + "</text>\n";
  }
  return out;
}

}  // namespace

std::string metrics_csv(const std::vector<EpochRecord>& epochs) {
  std::string out =
      "epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds,examples_per_second\n";
  for (const EpochRecord& r : epochs) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%lld,%.6f,%.6f,%.6f,%.6f,%.3f,%.1f\n",
                  static_cast<long long>(r.train.epoch), r.train.mean_loss, r.train.accuracy,
                  r.test_loss, r.test_accuracy, r.train.seconds, r.train.examples_per_second);
    out += buf;
  }
  return out;
}

std::string training_plot_svg(const std::vector<EpochRecord>& epochs, const std::string& title) {
  Series train_loss{"train", "#1f77b4", {}}, test_loss{"test", "#d62728", {}};
  Series train_acc{"train", "#1f77b4", {}}, test_acc{"test", "#d62728", {}};
  for (const EpochRecord& r : epochs) {
    train_loss.values.push_back(r.train.mean_loss);
    test_loss.values.push_back(r.test_loss);
    train_acc.values.push_back(r.train.accuracy);
    test_acc.values.push_back(r.test_accuracy);
  }
  const double w = 900, h = 380;
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%.0f", w) + "\" height=\"" +
         fmt("%.0f", h) + "\" viewBox=\"0 0 " + fmt("%.0f", w) + " " + fmt("%.0f", h) +
         "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  out += "<title>" + escape_xml(title) + "</title>\n";
  out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  out += "<text x=\"" + fmt("%.0f", w / 2) +
         "\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">" + escape_xml(title) + "</text>\n";
  out += chart(0, 30, w / 2, h - 30, "loss", {train_loss, test_loss}, epochs.size(), false);
  out += chart(w / 2, 30, w / 2, h - 30, "accuracy", {train_acc, test_acc}, epochs.size(), true);
  out += "</svg>\n";
  return out;
}

std::string confusion_csv(const kiln::classification::Evaluation& e,
                          const std::vector<std::string>& class_names) {
  auto quoted = [](const std::string& s) { return "\"" + s + "\""; };
  std::string out = "true\\predicted";
  for (const std::string& n : class_names) out += "," + quoted(n);
  out += "\n";
  for (int64_t t = 0; t < e.num_classes; ++t) {
    out += quoted(class_names[static_cast<size_t>(t)]);
    for (int64_t p = 0; p < e.num_classes; ++p)
      out += "," + std::to_string(e.confusion[static_cast<size_t>(t * e.num_classes + p)]);
    out += "\n";
  }
  return out;
}

std::string confusion_text(const kiln::classification::Evaluation& e,
                           const std::vector<std::string>& class_names) {
  size_t name_w = 5;
  for (const std::string& n : class_names) name_w = std::max(name_w, n.size());
  std::string out(name_w, ' ');
  for (int64_t p = 0; p < e.num_classes; ++p) out += fmt(" %5.0f", static_cast<double>(p));
  out += "  accuracy\n";
  for (int64_t t = 0; t < e.num_classes; ++t) {
    std::string name = class_names[static_cast<size_t>(t)];
    name.resize(name_w, ' ');
    out += name;
    for (int64_t p = 0; p < e.num_classes; ++p)
      out += fmt(" %5.0f",
                 static_cast<double>(e.confusion[static_cast<size_t>(t * e.num_classes + p)]));
    out += fmt("  %6.2f%%\n", e.class_accuracy(t) * 100);
  }
  return out;
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  kiln::serialization::write_file(path, std::vector<uint8_t>(text.begin(), text.end()));
}

}  // namespace kiln_tool

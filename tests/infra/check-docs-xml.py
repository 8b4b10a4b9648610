#!/usr/bin/python3
"""Second half of the doc gate: reads doxygen's XML of include/crm and fails
when a public function leaves a parameter without @param or, returning a
value, has no @return. (doxygen 1.9.4 cannot be asked for this itself: its
WARN_NO_PARAMDOC fires on fully documented functions.)

usage: check-docs-xml.py DOXYGEN_XML_DIR
"""
import glob
import os
import sys
import xml.etree.ElementTree as ET


def text(e):
    return "".join(e.itertext()).strip() if e is not None else ""


def main(xmldir):
    problems = []
    nfunc = 0
    for path in sorted(glob.glob(os.path.join(xmldir, "*_8h.xml"))):
        root = ET.parse(path).getroot()
        for m in root.iter("memberdef"):
            if m.get("kind") != "function":
                continue
            nfunc += 1
            name = text(m.find("name"))
            loc = m.find("location")
            where = f"{loc.get('file')}:{loc.get('line')}" if loc is not None else path
            params = [text(p.find("declname")) for p in m.findall("param")]
            params = [p for p in params if p]  # f(void) has no named parameter
            documented = set()
            for item in m.iter("parameteritem"):
                for pn in item.iter("parametername"):
                    documented.add(text(pn))
            for p in params:
                if p not in documented:
                    problems.append(f"{where}: {name}(): parameter '{p}' has no @param")
            for d in sorted(documented - set(params)):
                problems.append(f"{where}: {name}(): @param '{d}' names no parameter")
            rtype = text(m.find("type")).replace("CRM_API", "").strip()
            has_return = any(s.get("kind") == "return" for s in m.iter("simplesect"))
            if rtype != "void" and not has_return:
                problems.append(f"{where}: {name}() returns {rtype} but has no @return")
            if not text(m.find("briefdescription")):
                problems.append(f"{where}: {name}() has no @brief")
    for p in problems:
        print(p)
    if nfunc == 0:
        print("no function found in the doxygen XML: wrong directory?")
        return 1
    print(f"{nfunc} public functions checked, {len(problems)} documentation problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
